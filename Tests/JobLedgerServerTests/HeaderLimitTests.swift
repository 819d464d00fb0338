import Foundation
import Hummingbird
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerTestSupport
import Testing

/// Header fields over the decoder's limits (one field over 80 KiB, all of them over 80 KiB,
/// over 1000 fields) are 431 Request Header Fields Too Large with a problem+json, not the bare
/// 400 of a request that is not HTTP; the connection is closed.
@Suite struct HeaderLimitTests {
    static func raw(port: Int, _ text: String) async throws -> String {
        let c = try RawConnection(port: port)
        try c.send(text)
        return await offPool { c.readUntilClosed(within: .seconds(30)).text }
    }

    @Test func headersOverTheLimitsAre431() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let oneBig = "X-Big: " + String(repeating: "a", count: 81 * 1024) + "\r\n"
            let many = (0..<1001).map { "X-N\($0): 1\r\n" }.joined()
            let bigInAll = (0..<9).map { "X-Part\($0): " + String(repeating: "b", count: 9 * 1024) + "\r\n" }.joined()
            for (what, headers) in [("one field over 80 KiB", oneBig), ("1001 fields", many), ("over 80 KiB in all", bigInAll)] {
                let text = try await Self.raw(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n")
                #expect(text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(what): \(text.prefix(120))")
                #expect(text.lowercased().contains("content-type: application/problem+json"), "\(what)")
                #expect(text.lowercased().contains("x-content-type-options: nosniff"), "\(what)")
                let sent = String(text[(text.range(of: "\r\n\r\n")?.upperBound ?? text.endIndex)...])
                let problem = try #require(try? JSONValue(parsing: sent), "\(what): \(text)")
                try OpenAPIChecker.shared.check("GET", "/healthz", status: 431, contentType: "application/problem+json", body: ByteBuffer(string: sent))
                #expect(problem["type"] == "/problems/headers-too-large" && problem["status"] == 431, "\(what)")
                #expect(!text.contains("HTTP/1.1 400"), "\(what): a second response")
            }
            // NIO counts the URL against the same limits, with the same error: 431 too.
            let longURL = try await Self.raw(port: port, "GET /api/jobs?kind=\(String(repeating: "k", count: 81 * 1024)) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(longURL.hasPrefix("HTTP/1.1 431"), "\(longURL.prefix(120))")
            // Under the limits: answered as usual.
            let fine = try await Self.raw(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 60 * 1024))\r\nConnection: close\r\n\r\n")
            #expect(fine.hasPrefix("HTTP/1.1 200"), "\(fine.prefix(120))")
            // Still the bare 400 for what is not HTTP.
            let garbage = try await Self.raw(port: port, "GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")
            #expect(garbage.hasPrefix("HTTP/1.1 400"), "\(garbage.prefix(120))")
        }
    }
}
