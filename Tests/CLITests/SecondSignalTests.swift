import Foundation
import JobLedgerTestSupport
import Testing

/// A second SIGTERM during the drain stops `work` at once (exit 130) and names the attempts it
/// leaves to their leases, as Operations.md § Signals says: it said only "attempts still
/// running are taken up again once their leases pass", not which.
@Suite struct SecondSignalTests {
    @Test func aSecondSigtermNamesTheAttemptsLeftToTheirLeases() async throws {
        let scratch = Scratch()
        var jobs: [String] = []
        for _ in 0..<2 {
            let submitted = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch)
            jobs.append(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // Each of an attempt's four passes takes a minute: both are still running through the drain.
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["work", "--db", "s.sqlite", "--workers", "2", "--step-ms", "60000", "--drain", "3600",
                                               "--fail-rate", "0"], in: scratch)
        // Both attempts have started once their `started` events are in the log.
        for job in jobs { try await waitForStart(of: job, db: "s.sqlite", in: scratch) }

        kill(p.processIdentifier, SIGTERM)
        #expect(await waitForLine(containing: "stopping:", in: pipe.fileHandleForReading) != nil)
        // A signal within 100 ms of the first counts as the same press: sent again until the
        // process goes (bounded by the child deadline).
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while p.isRunning && ContinuousClock.now < end {
            kill(p.processIdentifier, SIGTERM)
            try? await Task.sleep(for: .milliseconds(50))
        }
        await waitForExit(p, "work after a second SIGTERM")
        #expect(p.terminationStatus == 130)
        let line = try #require(await waitForLine(containing: "again: stopping at once", in: pipe.fileHandleForReading))
        #expect(line.contains("the 2 attempts still running are taken up again once their leases pass"), "\(line)")
        for job in jobs { #expect(line.contains("\(job) (attempt 1)"), "\(line)") }
    }
}
