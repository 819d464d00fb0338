import Foundation
import JobLedger
@testable import JobLedgerServer
import JobLedgerTestSupport
import Testing

/// A request the HTTP decoder cannot read is answered with a problem that says what to change,
/// not Hummingbird's bare 400 with no body: a version it does not read (`HTTP/1.2`) is a 505
/// `unsupported-version`, a request line or field that is not HTTP a 400 `malformed-request`
/// naming what the decoder found. Either way once, and the connection closed. Over a socket.
@Suite struct ParseErrorTests {
    static func answer(_ text: String) -> (status: String, problem: JSONValue?, whole: String) {
        let line = text.range(of: "\r\n").map { String(text[..<$0.lowerBound]) } ?? text
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (line, try? JSONValue(parsing: body), text)
    }

    @Test func anUnreadableVersionIs505AndAMalformedRequest400WithAProblem() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            for version in ["HTTP/1.2", "HTTP/2.0"] {
                let text = try await HeaderLimitTests.raw(port: port, "GET /healthz \(version)\r\nHost: 127.0.0.1\r\n\r\n")
                let a = Self.answer(text)
                #expect(a.status == "HTTP/1.1 505 HTTP Version Not Supported", "\(version): \(text)")
                #expect(a.problem?["type"] == "/problems/unsupported-version" && a.problem?["status"] == 505, "\(version): \(text)")
                #expect(text.lowercased().contains("content-type: application/problem+json") && text.lowercased().contains("connection: close"))
                #expect(!text.contains("HTTP/1.1 400"), "\(version): a second answer: \(text)")
            }
            for (what, request) in [("a field without a colon", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header\r\n\r\n"),
                                    ("a method that is not a token", "G{T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")] {
                let text = try await HeaderLimitTests.raw(port: port, request)
                let a = Self.answer(text)
                #expect(a.status == "HTTP/1.1 400 Bad Request", "\(what): \(text)")
                #expect(a.problem?["type"] == "/problems/malformed-request" && a.problem?["status"] == 400, "\(what): \(text)")
                #expect(a.problem?["detail"]?.stringValue?.contains("invalid") == true, "\(what): names what the decoder found: \(text)")
                #expect(text.components(separatedBy: "HTTP/1.1 400").count == 2, "\(what): one answer: \(text)")
            }
            // HTTP/1.1 and 1.0 are read as before.
            let ok = try await HeaderLimitTests.raw(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(ok.hasPrefix("HTTP/1.1 200"), "\(ok)")
        }
    }

    @Test func statusLinesSayRFC9110sNamesAsTheProblemsTitlesDo() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let big = "{\"input\":{\"prompt\":\"" + String(repeating: "a", count: 70_000) + "\"}}"
            let unprocessable = #"{"input":{}}"#
            for (body, line, title) in [(big, "HTTP/1.1 413 Content Too Large", "Content Too Large"),
                                        (unprocessable, "HTTP/1.1 422 Unprocessable Content", "Unprocessable Content")] {
                let text = try await HeaderLimitTests.raw(port: port, "POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
                let a = Self.answer(text)
                #expect(a.status == line, "\(text.prefix(200))")
                #expect(a.problem?["title"]?.stringValue == title, "\(text.prefix(400))")
            }
        }
    }
}
