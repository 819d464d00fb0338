import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobLedgerTestSupport
@testable import JobLedgerServer
import Testing

/// Without authentication the server answers only to loopback names, so a page of another site
/// cannot reach it through DNS rebinding; every response carries the headers that keep a
/// browser from sniffing a blob into a script or framing the dashboard.
@Suite struct BrowserGuardTests {
    /// The status line and headers of one raw request naming `host`.
    static func head(port: Int, path: String, host: String?) async throws -> String {
        let c = try RawConnection(port: port)
        try c.send("GET \(path) HTTP/1.1\r\n" + (host.map { "Host: \($0)\r\n" } ?? "") + "Connection: close\r\n\r\n")
        return await offPool { c.readUntilClosed(within: .seconds(30)).text }
    }

    @Test func withoutAuthenticationOnlyLoopbackHostsAreAnswered() async throws {
        let h = try await ServerHarness.make(insecure: true); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example:80", "10.0.0.1", "[::2]:80"] {
                let r = try await Self.head(port: port, path: "/api/jobs", host: host)
                #expect(r.hasPrefix("HTTP/1.1 421"), "\(host): \(r.prefix(200))")
                #expect(r.contains("not-loopback-host"), "\(host)")
            }
            for host in ["localhost", "localhost:8080", "LOCALHOST", "127.0.0.1:\(port)", "127.1.2.3", "[::1]:\(port)", "app.localhost"] {
                let r = try await Self.head(port: port, path: "/api/jobs", host: host)
                #expect(r.hasPrefix("HTTP/1.1 200"), "\(host): \(r.prefix(200))")
            }
        }
    }

    /// The 421 can answer any request, before its route is looked at: every operation of the
    /// OpenAPI document lists it, as it is sent.
    @Test func everyDocumentedOperationListsThe421ItCanGet() async throws {
        let h = try await ServerHarness.make(insecure: true); defer { h.cleanup() }
        guard case .object(let paths)? = OpenAPIChecker.shared.doc["paths"] else { Issue.record("no paths"); return }
        let checked = try await h.live { c async throws -> Int in
            var checked = 0
            let port = try #require(c.port)
            for (template, item) in paths.sorted(by: { $0.key < $1.key }) {
                guard case .object(let operations) = item else { continue }
                let uri = template.replacingOccurrences(of: "{id}", with: "01KAAAAAAAAAAAAAAAAAAAAAAA")
                    .replacingOccurrences(of: "{kind}", with: "design").replacingOccurrences(of: "{name}", with: "broadcast")
                for method in operations.keys.sorted() {
                    let raw = try RawConnection(port: port)
                    try raw.send("\(method.uppercased()) \(uri) HTTP/1.1\r\nHost: rebound.evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    let text = await offPool { raw.readUntilClosed(within: .seconds(30)).text }
                    let parts = text.components(separatedBy: "\r\n\r\n")
                    let lines = parts[0].components(separatedBy: "\r\n")
                    let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
                    #expect(status == 421, "\(method) \(uri): \(text.prefix(200))")
                    let type = lines.first { $0.lowercased().hasPrefix("content-type:") }.map { String($0.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces) }
                    #expect(throws: Never.self, "\(method) \(template)") {
                        try OpenAPIChecker.shared.check(method.uppercased(), template, status: status, contentType: type,
                                                        body: ByteBuffer(string: parts.dropFirst().joined(separator: "\r\n\r\n")))
                    }
                    checked += 1
                }
            }
            return checked
        }
        #expect(checked >= 15)
    }

    @Test func withAuthenticationAnyHostIsAnsweredAndEveryResponseCarriesTheBrowserHeaders() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let r = try await Self.head(port: port, path: "/healthz", host: "jobs.example.com")
            #expect(r.hasPrefix("HTTP/1.1 200"), "\(r.prefix(200))")
            for (path, status) in [("/", HTTPResponse.Status.unauthorized), ("/openapi.json", .ok), ("/healthz", .ok), ("/api/jobs", .unauthorized), ("/nowhere", .notFound)] {
                let r = try await c.executeRequest(uri: path, method: .get, headers: [:], body: nil)
                #expect(r.status == status, "\(path)")
                #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(path)")
                #expect(r.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true, "\(path)")
            }
        }
    }

    @Test func loopbackNames() {
        for yes in ["localhost", "localhost.", "a.localhost:1", "127.0.0.1", "127.255.0.9:99", "[::1]", "[::1]:8080"] {
            #expect(BrowserGuard.isLoopback(host: yes), "\(yes)")
        }
        for no in ["", "example.com", "127.0.0.1.nip.io", "128.0.0.1", "127.0.0", "127.0.0.256", "[::2]", "[::1", "localhostx", "0.0.0.0"] {
            #expect(!BrowserGuard.isLoopback(host: no), "\(no)")
        }
    }
}
