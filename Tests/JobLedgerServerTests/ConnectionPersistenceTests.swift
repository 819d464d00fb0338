import Foundation
import JobLedger
@testable import JobLedgerServer
import JobLedgerTestSupport
import Testing

/// RFC 9112 § 9.3 and § 6.1, RFC 9110 § 10.1.1, which the conversion to HTTP types hid: an
/// HTTP/1.0 request was answered as HTTP/1.1 (a stream's event lines inside chunk sizes) and its
/// connection held until the idle timeout; `Connection: Close` kept a connection open; a client
/// sending `Expect: 100-continue` never got `100 Continue`. Over a socket (the harness has no
/// idle timeout, so a closed connection was closed by the answer).
@Suite struct ConnectionPersistenceTests {
    static func head(_ text: String) -> String { String(text[..<(text.range(of: "\r\n\r\n")?.lowerBound ?? text.endIndex)]).lowercased() }

    @Test func http10IsAnsweredAsHTTP10AndClosedUnlessKeptAlive() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let plain = try RawConnection(port: port)
            try plain.send("GET /healthz HTTP/1.0\r\n\r\n")
            let r = await offPool { plain.readUntilClosed(within: .seconds(30)) }
            #expect(r.closed && r.text.hasPrefix("HTTP/1.0 200"), "\(r.text)")
            #expect(Self.head(r.text).contains("connection: close") && r.text.hasSuffix("{\"status\":\"ok\"}"), "\(r.text)")

            // Kept alive when asked, and said so; a second request on it, then closed.
            let kept = try RawConnection(port: port)
            try kept.send("GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            let first = await offPool { kept.readUntil("{\"status\":\"ok\"}", within: .seconds(30)) }
            #expect(!first.closed && first.text.hasPrefix("HTTP/1.0 200") && Self.head(first.text).contains("connection: keep-alive"), "\(first.text)")
            try kept.send("GET /healthz HTTP/1.0\r\n\r\n")
            let second = await offPool { kept.readUntilClosed(within: .seconds(30)) }
            #expect(second.closed && second.text.hasPrefix("HTTP/1.0 200"), "\(second.text)")
        }
    }

    @Test func aStreamToAnHTTP10ClientIsNotChunkedAndEndsWithTheConnection() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_alice")
        let job = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        try await h.engine.cancel(job, reason: "r")
        _ = try await h.runner.catchUp()
        try await h.live { c async throws in
            let port = try #require(c.port)
            for connection in ["", "Connection: keep-alive\r\n"] {
                let s = try RawConnection(port: port)
                try s.send("GET /api/jobs/\(job)/stream HTTP/1.0\r\nAuthorization: Bearer \(token)\r\n\(connection)\r\n")
                let r = await offPool { s.readUntilClosed(within: .seconds(30)) }
                let head = Self.head(r.text)
                #expect(r.closed && r.text.hasPrefix("HTTP/1.0 200"), "\(connection): \(r.text)")
                #expect(!head.contains("transfer-encoding") && head.contains("connection: close"), "\(connection): \(head)")
                let body = r.text[(r.text.range(of: "\r\n\r\n")?.upperBound ?? r.text.endIndex)...]
                #expect(body.hasPrefix("retry: ") && body.contains("\"state\":\"canceled\""), "\(connection): \(body)")
            }
        }
    }

    @Test func connectionCloseInAnyCaseClosesAndIsSaid() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            for value in ["Close", "keep-alive, close", "CLOSE"] {
                let s = try RawConnection(port: port)
                try s.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: \(value)\r\n\r\n")
                let r = await offPool { s.readUntilClosed(within: .seconds(30)) }
                #expect(r.closed && r.text.hasPrefix("HTTP/1.1 200") && Self.head(r.text).contains("connection: close"), "\(value): \(r.text)")
            }
            // A persistent one is not closed, nor marked.
            let s = try RawConnection(port: port)
            try s.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let r = await offPool { s.readUntil("{\"status\":\"ok\"}", within: .seconds(30)) }
            #expect(!r.closed && !Self.head(r.text).contains("connection:"), "\(r.text)")
        }
    }

    @Test func expect100ContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_alice")
        let body = #"{"input":{"prompt":"p"}}"#
        try await h.live { c async throws in
            let port = try #require(c.port)
            let s = try RawConnection(port: port)
            try s.send("POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                       + "Content-Length: \(body.utf8.count)\r\nExpect: 100-Continue\r\n\r\n")
            let interim = await offPool { s.readUntil("\r\n\r\n", within: .seconds(30)) }
            #expect(interim.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim.text)")
            try s.send(body)
            let answer = await offPool { s.readUntil("\"urls\"", within: .seconds(30)) }
            #expect(answer.text.contains("HTTP/1.1 202"), "\(answer.text)")

            // HTTP/1.0: the expectation is ignored (no interim answer); the body sent, 202.
            let old = try RawConnection(port: port)
            try old.send("POST /api/design HTTP/1.0\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                         + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n\(body)")
            let r = await offPool { old.readUntilClosed(within: .seconds(30)) }
            #expect(r.text.hasPrefix("HTTP/1.0 202") && !r.text.contains("100 Continue"), "\(r.text)")
        }
    }

    /// A body declared over the limit is refused (413) before any of it is read: it came only
    /// after 64 KiB had, and a client that sent only the head waited out the request timeout
    /// for no answer. One expecting `100 Continue` gets none (it invited a gigabyte), and its
    /// connection is closed after the 413, since its client need not send the body now. One
    /// that is sending its body keeps the connection. Nothing is queued.
    @Test func aBodyDeclaredTooLargeIsRefusedBeforeItIsSent() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            for (length, expect) in [("1000000000", true), ("1000000000", false), ("65537", false)] {
                let s = try RawConnection(port: port)
                try s.send("POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                           + "Content-Length: \(length)\r\n" + (expect ? "Expect: 100-continue\r\n" : "") + "\r\n")
                let r = await offPool { expect ? s.readUntilClosed(within: .seconds(30)) : s.readUntil("too-large\"", within: .seconds(30)) }
                #expect(r.text.hasPrefix("HTTP/1.1 413 Content Too Large\r\n") && r.text.contains("too-large\""), "\(length) \(expect): \(r.text.prefix(200))")
                #expect(!r.text.contains("100 Continue"), "\(length) \(expect): \(r.text.prefix(300))")
                #expect(r.closed == expect && Self.head(r.text).contains("connection: close") == expect, "\(length) \(expect): \(r.text.prefix(300))")
            }
            #expect(try h.ledger.eventCount() == 0)
            // Leading zeros are no size: a body of 2 bytes declared with 21 digits is read.
            let zeros = try RawConnection(port: port)
            try zeros.send("POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                           + "Content-Length: 000000000000000000002\r\n\r\n{}")
            let read = await offPool { zeros.readUntil("\"field\"", within: .seconds(30)) }
            #expect(read.text.hasPrefix("HTTP/1.1 422") && read.text.contains("input is required"), "\(read.text.prefix(400))")
            // At the limit: still invited, and read.
            let body = #"{"input":{"prompt":"p"}}"#
            let s = try RawConnection(port: port)
            try s.send("POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                       + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
            #expect(await offPool { s.readUntil("\r\n\r\n", within: .seconds(30)) }.text.hasPrefix("HTTP/1.1 100 Continue\r\n"))
        }
    }

    /// A CONNECT was answered with a head and no body (NIO frames every answer to a CONNECT so),
    /// and the connection then hung: NIO reads what follows a CONNECT as a tunnel, so the next
    /// request was never answered, until the idle timeout. Now the answer says close, and the
    /// connection closes.
    @Test func aConnectIsAnsweredAndItsConnectionClosed() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let s = try RawConnection(port: try #require(c.port))
            try s.send("CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let r = await offPool { s.readUntilClosed(within: .seconds(30)) }
            #expect(r.closed && r.text.hasPrefix("HTTP/1.1 404") && Self.head(r.text).contains("connection: close"), "\(r.text)")
        }
    }
}
