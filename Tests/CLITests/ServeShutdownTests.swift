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
        guard let fd = connectToLoopback(port: port) else { return errno == ECONNREFUSED }
        close(fd)
        return false
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
        try await waitForStart(of: job, db: "s.sqlite", in: scratch)

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
