import Foundation
import JobLedgerTestSupport
import Testing

/// A running `serve` keeps descriptors for its own log connections, threads and files: with
/// `ulimit -n 48` and 80 live streams it once lost its log ("unable to open database file")
/// and then died of SIGILL. Connections past its open-file limit less that reserve are now
/// closed as soon as they are accepted; the server stays up and serves again once others close.
@Suite struct ServeConnectionCapTests {
    @Test func connectionsPastTheCapAreClosedAndTheServerStaysUp() async throws {
        let scratch = Scratch()
        // The floor `serve` says when refused is its reserve plus 16 connections (the reserve
        // grows with the cores): run at exactly that, the cap is 16.
        let refused = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0", "--insecure-no-auth"], in: scratch, openFiles: 8)
        let floor = try #require(refused.stderr.firstMatch(of: #/needs at least ([0-9]+)/#).map { Int($0.1)! }, "\(refused)")

        let binary = try #require(jobledgerBinary).path
        let pipe = childPipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -n \(floor) && exec \"$0\" \"$@\"", binary,
                       "serve", "--db", "s.sqlite", "--port", "0", "--insecure-no-auth", "--workers", "2"]
        p.currentDirectoryURL = scratch.url
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = pipe
        p.standardError = pipe
        try startChild(p)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let banner = try #require(await waitForLine(containing: "jobledger: serving http://", in: pipe.fileHandleForReading))
        let port = try #require(banner.firstMatch(of: #/127\.0\.0\.1:([0-9]+)/#).map { UInt16($0.1)! })
        #expect(banner.contains("open-file limit \(floor): at most 16 connections at once"), "\(banner)")

        // 24 connections held open at once: 16 are answered, the other 8 closed unanswered.
        let held = try (0..<24).map { _ in try TestConnection(port: port) }
        var answered: [TestConnection] = []
        for c in held { if c.healthz() { answered.append(c) } else { c.close() } }
        #expect(answered.count == 16)
        // Those still open keep being served.
        #expect(answered.allSatisfy { $0.healthz() })

        // Once they close, a fresh connection is served again (the server counts a close on its
        // own event loop: tried until one is answered, each try a real round trip).
        for c in answered { c.close() }
        var servedAgain = false
        let end = ContinuousClock.now.advanced(by: .seconds(30))
        while !servedAgain && ContinuousClock.now < end {
            let c = try TestConnection(port: port)
            servedAgain = c.healthz()
            c.close()
        }
        #expect(servedAgain)

        let said = await waitForLine(containing: "closed at once", in: pipe.fileHandleForReading, within: .seconds(30))
        #expect(said?.contains("the open-file limit (\(floor)") == true, "\(said ?? "nothing said")")
        kill(p.processIdentifier, SIGTERM)
        await waitForExit(p, "serve after SIGTERM")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0,
                "ended by \(p.terminationReason == .exit ? "exit" : "signal") \(p.terminationStatus)")
    }
}

/// A plain TCP connection to 127.0.0.1 that asks `GET /healthz` on demand (keep-alive).
final class TestConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let e = errno
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO)
        }
        // A bound on every read: a server that never answers fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whether `GET /healthz` on this connection is answered 200: false when the server has
    /// closed it (EOF or a reset), as it does with one past the cap.
    func healthz() -> Bool {
        let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        // The head, then as much body as Content-Length says.
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            received += chunk[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let length = text.firstMatch(of: #/(?i)content-length: *([0-9]+)/#).map { Int($0.1)! } ?? 0
            guard text[headEnd.upperBound...].utf8.count >= length else { continue }
            return text.hasPrefix("HTTP/1.1 200")
        }
    }

    func close() { Glibc.close(fd) }
}
