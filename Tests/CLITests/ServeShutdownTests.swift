import Foundation
import JobLedgerTestSupport
import Testing

/// What `/readyz` does during `serve`'s graceful shutdown, as Docs/Serve.md and the OpenAPI
/// `Ready` schema now say: the listener closes as the shutdown begins, before the workers
/// drain, so a readiness probe gets connection refused (not a 503 `draining`, which the docs
/// promised and `serve` never sent) while an attempt is still draining.
@Suite struct ServeShutdownTests {
    /// Whether a TCP connection to the loopback `port` is refused.
    static func refused(port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        return !ok && errno == ECONNREFUSED
    }

    @Test func sigtermClosesTheListenerBeforeTheWorkersDrain() async throws {
        let scratch = Scratch()
        let submitted = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch)
        let job = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Each of the attempt's four passes takes a minute: it is still running through the drain.
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0", "--workers", "1",
                                               "--step-ms", "60000", "--drain", "3600", "--fail-rate", "0"], in: scratch)
        let serving = try #require(await waitForLine(containing: "jobledger: serving http://", in: pipe.fileHandleForReading))
        let address = try #require(serving.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression).map { serving[$0] })
        let port = try #require(Int(address.split(separator: ":").last ?? ""))
        #expect(!Self.refused(port: port))
        // The attempt has started once its broadcast is out.
        let messages = childPipe()
        let tail = try startWithOutput(on: messages, ["tail", "--db", "s.sqlite", "--after", "0", "--job", job], in: scratch)
        #expect(await waitForLine(containing: #""type":"started""#, in: messages.fileHandleForReading) != nil)
        kill(tail.processIdentifier, SIGTERM)
        await waitForExit(tail, "tail")

        kill(p.processIdentifier, SIGTERM)
        #expect(await waitForLine(containing: "stopping:", in: pipe.fileHandleForReading) != nil)
        // The listener goes as the shutdown begins (polled, bounded: it closes on the server's
        // own event loop), while the attempt drains for up to an hour.
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while !Self.refused(port: port) && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(Self.refused(port: port), "serve still accepts connections during its drain")
        #expect(p.isRunning, "serve stopped instead of draining")
        // Not waited out: the attempt would drain for minutes.
        kill(p.processIdentifier, SIGKILL)
        await waitForExit(p, "serve after SIGKILL")
    }
}
