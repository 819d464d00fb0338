import Foundation
import JobLedger
@testable import JobLedgerServer
import JobLedgerTestSupport
import Testing

/// A request answered before its body was read (a 401 for a bad token) whose chunked framing
/// then broke got two answers on one connection: the route's 401, then Hummingbird's bare
/// `400` for the framing, as if to a request the client never sent. One answer now, saying
/// `Connection: close`, and the connection closed; or, when the broken bytes come after the
/// answer has gone, the connection closed with nothing more. Over a socket: an HTTP client
/// neither breaks its framing nor reads answers nobody asked for.
@Suite struct BrokenBodyTests {
    /// The status lines in `text`, in order.
    static func statusLines(_ text: String) -> [String] {
        text.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.") }
    }

    static func head(_ text: String) -> String { ConnectionPersistenceTests.head(text) }

    static func post(_ authorization: String) -> String {
        "POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(authorization)\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
    }

    static let broken = "zz\r\n{\"input\":{\"prompt\":\"x\"}}\r\n0\r\n\r\n"

    @Test func aBadTokenWithABrokenBodyIsAnsweredOnceAndClosed() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let s = try RawConnection(port: port)
            try s.send(Self.post("not-a-token") + Self.broken)
            let r = await offPool { s.readUntilClosed(within: .seconds(30)) }
            #expect(r.closed, "the connection stayed open: \(r.text)")
            #expect(Self.statusLines(r.text) == ["HTTP/1.1 401 Unauthorized"], "\(r.text)")
            #expect(Self.head(r.text).contains("connection: close"), "\(r.text)")
        }
        #expect(try h.ledger.eventCount() == 0)
    }

    /// The 401 has gone out before the body's broken bytes arrive: nothing follows it.
    @Test func brokenBytesAfterTheAnswerCloseTheConnectionWithoutAnotherAnswer() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let s = try RawConnection(port: port)
            try s.send(Self.post("not-a-token"))
            let answer = await offPool { s.readUntil("/problems/unauthorized\"}", within: .seconds(30)) }
            #expect(Self.statusLines(answer.text) == ["HTTP/1.1 401 Unauthorized"], "\(answer.text)")
            try s.send(Self.broken)
            let rest = await offPool { s.readUntilClosed(within: .seconds(30)) }
            #expect(rest.closed && rest.text.isEmpty, "after the 401: \(rest.text)")
        }
    }

    /// The route reads the body and answers its 400 `malformed-body`: the only answer, and the
    /// connection (whose framing is lost) is closed, without the client having asked.
    @Test func aBrokenBodyTheRouteReadsIsItsOnlyAnswer() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token()
        try await h.live { c async throws in
            let port = try #require(c.port)
            let s = try RawConnection(port: port)
            try s.send(Self.post(token) + Self.broken)
            let r = await offPool { s.readUntilClosed(within: .seconds(30)) }
            #expect(r.closed && Self.statusLines(r.text) == ["HTTP/1.1 400 Bad Request"], "\(r.text)")
            #expect(Self.head(r.text).contains("connection: close") && r.text.contains("/problems/malformed-body"), "\(r.text)")
        }
        #expect(try h.ledger.eventCount() == 0)
    }

    /// An early answer to a body that is whole keeps the connection, as before: the rest of the
    /// body is read past, and the next request answered.
    @Test func anEarlyAnswerToAWholeBodyKeepsTheConnection() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let s = try RawConnection(port: port)
            let json = #"{"input":{"prompt":"x"}}"#
            try s.send(Self.post("not-a-token") + String(json.utf8.count, radix: 16) + "\r\n\(json)\r\n0\r\n\r\n")
            let first = await offPool { s.readUntil("/problems/unauthorized\"}", within: .seconds(30)) }
            #expect(!first.closed && !Self.head(first.text).contains("connection:"), "\(first.text)")
            try s.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let second = await offPool { s.readUntil("{\"status\":\"ok\"}", within: .seconds(30)) }
            #expect(Self.statusLines(second.text) == ["HTTP/1.1 200 OK"], "\(second.text)")
        }
    }
}
