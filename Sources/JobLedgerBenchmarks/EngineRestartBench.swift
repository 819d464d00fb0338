import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization

/// An engine restarted on a long log (`jobledger bench --only restart`): a log of many finished
/// jobs' events and a few queued jobs. A first engine starts on it with no snapshot (it folds
/// the whole log), works the queued jobs off and, as its work returns, stores an engine snapshot;
/// more jobs are queued; a second engine starts from that snapshot and reads only the events
/// after it. Each start runs in a child process, so its peak memory is its own.
package enum EngineRestartBench {
    /// Where the log is written.
    package static func logPath(directory: URL) -> String {
        directory.appendingPathComponent("engine-restart.sqlite").path
    }

    /// Writes `events` events of finished jobs (whole lifecycles), then queues `queued` jobs.
    package static func buildLog(directory: URL, events: Int, queued: Int, progress: (Int) -> Void) async throws {
        let path = logPath(directory: directory)
        try await LedgerBenchmarks.buildLog(path: path, events: events, configuration: LedgerConfiguration(), progress: progress)
        try await EngineBench.submit(jobs: queued, tasks: 8, ledger: Ledger.open(path: path))
    }

    /// Queues `jobs` more no-op jobs (before the second start).
    package static func queueMore(directory: URL, jobs: Int) async throws {
        try await EngineBench.submit(jobs: jobs, tasks: 8, ledger: Ledger.open(path: logPath(directory: directory)))
    }

    /// One start (the child side): seconds from the engine's creation to its first claim, the
    /// `seq` of the snapshot it could start from (0: none stored), and whether it ran each of the
    /// `queued` jobs waiting. The engine snapshots as by default, so the run stores one as it returns.
    package static func start(directory: URL, queued: Int) async throws -> (firstClaimSeconds: Double, snapshotSeq: Int64, finished: Bool) {
        let ledger = try Ledger.open(path: logPath(directory: directory))
        let snapshotSeq = try ledger.readEngineSnapshot { seq, _, _, _ in seq } ?? 0
        var options = JobEngine.Options(workerID: "bench-restart")
        options.concurrency = 64
        options.logger.logLevel = .warning
        let clock = ContinuousClock()
        let started = clock.now
        let firstClaim = Mutex<ContinuousClock.Instant?>(nil)
        let ran = Mutex(0)
        let engine = JobEngine(ledger: ledger, options: options)
        engine.register(kind: "noop") { _ in
            firstClaim.withLock { if $0 == nil { $0 = clock.now } }
            ran.withLock { $0 += 1 }
            return JobCompletion()
        }
        try await engine.workUntilIdle(pollInterval: .milliseconds(1))
        let first = firstClaim.withLock { $0.map { LedgerBenchmarks.seconds(started.duration(to: $0)) } } ?? .infinity
        // Counted by the handler: a query of the jobs would fold the whole log into this
        // process and count as the engine's memory.
        return (first, snapshotSeq, ran.withLock { $0 } == queued)
    }
}
