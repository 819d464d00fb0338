import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization

/// The engine burn-down: N no-op jobs (queued → started → 3 × progress → completed) from the
/// first submit until every one is terminal, with W workers. The jobs are submitted first (as
/// `JobEngine.submit` writes them: a `queued` event at expected version 0, by W concurrent
/// tasks sharing group commits, as the raw ceiling writes the `queued` rows W to a
/// transaction) by one child process (`jobledger bench --engine-backlog`),
/// then a new engine starts on that log in another (`--engine-child`), as a worker restarted on
/// a backlog does: it reads the log, claims and works every job off. The peak memory is the
/// engine's own.
package enum EngineBench {
    package struct Result {
        package var jobs: Int
        package var workers: Int
        /// From the first submit until every job is terminal.
        package var seconds: Double
        package var events: Int
        /// Append transactions the burn-down committed (events per transaction: how well group
        /// commit and batch claims gathered the writes).
        package var transactions: Int = 0
        /// From the engine's creation (after the submits) to its first claim: the handler's first call.
        package var firstClaimSeconds: Double = 0
        /// The process's peak resident set size, in MiB (filled in from the child's report).
        package var peakResidentMB: Double = 0
        /// The raw SQLite ceiling for the same rows (`LedgerBenchmarks.rawBurnDownCeiling`).
        package var rawJobsPerSecond: Double = 0
        package var rawRowsPerSecond: Double = 0
        /// How many times ours and the raw ceiling were measured (the figures are the medians;
        /// the peak memory and the first claim are the worst of the rounds).
        package var rounds = 1
        package var jobsPerSecond: Double { Double(jobs) / seconds }
        package var eventsPerSecond: Double { Double(events) / seconds }
        package var ratioToRawCeiling: Double { jobsPerSecond / max(rawJobsPerSecond, 1) }

        package init(jobs: Int, workers: Int, seconds: Double, events: Int) {
            self.jobs = jobs; self.workers = workers; self.seconds = seconds; self.events = events
        }
    }

    /// The backlog: `jobs` queued no-op jobs submitted by `tasks` concurrent tasks (sharing
    /// group commits), as `JobEngine.submit` writes them. Run in a process of its own (another
    /// process submitting, as in production), so that its memory is not counted as the
    /// engine's. Returns the seconds from the first submit to the last one's commit (creating
    /// the empty log before it is not timed).
    package static func makeBacklog(directory: URL, jobs: Int, tasks: Int) async throws -> Double {
        let ledger = try Ledger.open(path: backlogPath(directory: directory, jobs: jobs))
        let clock = ContinuousClock()
        let t0 = clock.now
        try await submit(jobs: jobs, tasks: tasks, ledger: ledger)
        let seconds = LedgerBenchmarks.seconds(t0.duration(to: clock.now))
        // Closed (its last checkpoint) after the clock stopped, not whenever ARC would.
        withExtendedLifetime(ledger) {}
        return seconds
    }

    /// Where the backlog of `jobs` jobs is written.
    package static func backlogPath(directory: URL, jobs: Int) -> String {
        directory.appendingPathComponent("engine-\(jobs).sqlite").path
    }

    /// A new engine starts on the backlog, as a worker restarted on it does: it reads the log,
    /// claims and works every job off. `seconds` is the burn-down's own time (the caller adds
    /// the submits').
    package static func burnDown(directory: URL, jobs: Int, workers: Int) async throws -> Result {
        let ledger = try Ledger.open(path: backlogPath(directory: directory, jobs: jobs))
        var options = JobEngine.Options(workerID: "bench")
        options.concurrency = workers
        options.logger.logLevel = .warning
        // Every report is written, so the engine writes the same 6 rows per job as the raw ceiling.
        options.progressIntervalMilliseconds = 0
        let clock = ContinuousClock()
        let started = clock.now
        let firstClaim = Mutex<ContinuousClock.Instant?>(nil)
        let engine = JobEngine(ledger: ledger, options: options)
        engine.register(kind: "noop") { ctx in
            firstClaim.withLock { if $0 == nil { $0 = clock.now } }
            for f in [0.25, 0.5, 0.75] { try await ctx.progress(f) }
            return JobCompletion()
        }
        try await engine.workUntilIdle(pollInterval: .milliseconds(1))
        let elapsed = LedgerBenchmarks.seconds(started.duration(to: clock.now))
        var completed = 0
        try ledger.forEachRawEvent { if $0.type == EventType.completed.rawValue { completed += 1 } }
        precondition(completed == jobs, "burn-down left jobs unfinished")
        var result = Result(jobs: jobs, workers: workers, seconds: elapsed, events: try ledger.eventCount())
        result.transactions = ledger.appendTransactions
        result.firstClaimSeconds = firstClaim.withLock { $0.map { LedgerBenchmarks.seconds(started.duration(to: $0)) } } ?? 0
        return result
    }

    /// Appends `jobs` queued events from `tasks` concurrent tasks, as `JobEngine.submit` writes them.
    static func submit(jobs: Int, tasks: Int, ledger: Ledger) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<tasks {
                group.addTask {
                    for _ in stride(from: s, to: jobs, by: tasks) {
                        let payload = EventPayload.queued(.init(kind: "noop", input: [:]))
                        _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: payload, expectedVersion: 0))
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
