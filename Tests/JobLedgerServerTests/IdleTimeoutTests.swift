import Foundation
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerTestSupport
import Testing

/// Connections that do nothing are closed after `idleTimeout`: one that sends nothing, one that
/// drips half a request head, one kept alive after its response. Without it each holds a
/// descriptor for as long as its client likes, and enough of them leave the server none to
/// accept with. An SSE stream is a response in progress, never idle.
@Suite struct IdleTimeoutTests {
    @Test func connectionsThatSendNothingOrHalfAHeadOrStayOpenAfterAResponseAreClosed() async throws {
        var made = try await ServerHarness.make()
        made.server.idleTimeout = .milliseconds(200)
        let h = made
        defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let silent = try RawConnection(port: port)
            let halfHead = try RawConnection(port: port)
            try halfHead.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let keptAlive = try RawConnection(port: port)
            try keptAlive.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            for (name, connection) in [("silent", silent), ("half a head", halfHead), ("kept alive", keptAlive)] {
                let read = await offPool { connection.readUntilClosed(within: .seconds(60)) }
                #expect(read.closed, "\(name): still open after 60 s; read \(read.text.debugDescription)")
                if name == "kept alive" { #expect(read.text.hasPrefix("HTTP/1.1 200"), "\(read.text)") }
            }
        }
    }

    /// Each byte of a body counts as activity for the idle timeout; the request timeout bounds
    /// the whole request, so a body trickled a byte at a time does not hold its connection.
    @Test func aBodyTrickledAByteAtATimeIsCutOffByTheRequestTimeout() async throws {
        var made = try await ServerHarness.make()
        made.server.idleTimeout = .seconds(600)
        made.server.requestTimeout = .milliseconds(300)
        let h = made
        defer { h.cleanup() }
        let token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let slow = try RawConnection(port: port)
            let length = 300
            try slow.send("POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                          + "Content-Type: application/json\r\nContent-Length: \(length)\r\n\r\n")
            // One byte every 100 ms: the whole body would take 30 s.
            let sent = await offPool { () -> Int in
                for n in 0..<length {
                    if slow.readUntilClosed(within: .milliseconds(100)).closed { return n }
                    do { try slow.send(" ") } catch { return n }
                }
                return length
            }
            #expect(sent < length, "the connection stayed open for the whole trickled body")
        }
        // A request sent at once is not cut off by the same deadline.
        try await h.live { c async throws in
            let r = try await c.executeRequest(uri: "/api/design", method: .post, headers: try await h.auth("user_alice"),
                                               body: body(#"{"input":{"prompt":"p"}}"#))
            #expect(r.status == .accepted)
        }
    }

    @Test func anOpenStreamIsNotIdle() async throws {
        var made = try await ServerHarness.make()
        made.server.idleTimeout = .milliseconds(200)
        made.server.streamHeartbeat = .seconds(1)  // five idle timeouts after the stream opened
        let h = made
        defer { h.cleanup() }
        let token = try await h.token("user_alice")
        // Queued through the engine, not the test client: its own connection would be idle,
        // and closed, while a loaded machine gets round to the request.
        let job = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let stream = try RawConnection(port: port)
            try stream.send("GET /api/jobs/\(job)/stream?access_token=\(token) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let read = await offPool { stream.readUntil(": keep-alive", within: .seconds(60)) }
            #expect(read.text.contains(": keep-alive"), "the stream ended before its keep-alive (closed: \(read.closed)): \(read.text)")
        }
    }
}

/// A plain TCP connection to the loopback server, for what an HTTP client does not do (send
/// half a request, hold a connection silent), read with a deadline.
final class RawConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        guard let fd = connectToLoopback(port: port) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Writes `text`; throws when the server has closed or reset the connection (no SIGPIPE).
    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        #if canImport(Glibc)
        let sent = Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
        #else
        let sent = write(fd, bytes, bytes.count)
        #endif
        guard sent == bytes.count else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// Closes the sending side (a half-close): the server reads the end of the stream.
    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until the server closes the connection (or resets it), or `deadline` passes.
    func readUntilClosed(within deadline: Duration) -> (closed: Bool, text: String) {
        readUntil(nil, within: deadline)
    }

    /// Reads until `needle` has arrived, the connection closes, or `deadline` passes.
    func readUntil(_ needle: String?, within deadline: Duration) -> (closed: Bool, text: String) {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while clock.now < end {
            if let needle, String(decoding: data, as: UTF8.self).contains(needle) { return (false, String(decoding: data, as: UTF8.self)) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 100)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let got = read(fd, &chunk, chunk.count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { return (true, String(decoding: data, as: UTF8.self)) }  // EOF or reset: closed
            data += chunk[0..<got]
        }
        return (false, String(decoding: data, as: UTF8.self))
    }
}
