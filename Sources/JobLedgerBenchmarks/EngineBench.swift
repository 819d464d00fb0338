import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite

/// The engine burn-down: N no-op jobs (queued → started → 3 × progress → completed) from the
/// first submit until every one is terminal, with W workers.
package enum EngineBench {
    package struct Result {
        package var jobs: Int
        package var workers: Int
        package var seconds: Double
        package var events: Int
        /// The raw SQLite ceiling for the same rows (`LedgerBenchmarks.rawBurnDownCeiling`).
        package var rawJobsPerSecond: Double = 0
        package var rawRowsPerSecond: Double = 0
        package var jobsPerSecond: Double { Double(jobs) / seconds }
        package var eventsPerSecond: Double { Double(events) / seconds }
    }

    package static func burnDown(directory: URL, jobs: Int, workers: Int) async throws -> Result {
        let ledger = try Ledger.open(path: directory.appendingPathComponent("engine.sqlite").path)
        var options = JobEngine.Options(workerID: "bench")
        options.concurrency = workers
        options.logger.logLevel = .warning
        let engine = JobEngine(ledger: ledger, options: options)
        engine.register(kind: "noop") { ctx in
            for f in [0.25, 0.5, 0.75] { try await ctx.progress(f) }
            return JobCompletion()
        }
        let clock = ContinuousClock()
        let t0 = clock.now
        // Jobs are submitted by 8 concurrent tasks (sharing group commits), then worked off.
        let submitters = 8
        async let submitted: Void = withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<submitters {
                group.addTask {
                    for _ in stride(from: s, to: jobs, by: submitters) { try await engine.submit(kind: "noop") }
                }
            }
            try await group.waitForAll()
        }
        try await submitted
        try await engine.workUntilIdle(pollInterval: .milliseconds(1))
        let elapsed = t0.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let states = try ledger.jobStates().values
        precondition(states.count == jobs && states.allSatisfy { $0.status == .completed }, "burn-down left jobs unfinished")
        return Result(jobs: jobs, workers: workers, seconds: seconds, events: try ledger.eventCount())
    }
}
