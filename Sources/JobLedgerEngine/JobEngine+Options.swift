import Foundation
import JobLedgerSQLite
import Logging
import Metrics

extension JobEngine {
    /// How an engine works: who it is, how long its claims hold, how much it runs at once, how it
    /// shuts down, where it logs and counts. Every field has a default; set the ones you need.
    ///
    /// ```swift
    /// var options = JobEngine.Options(workerID: "render-1")
    /// options.concurrency = 8                      // attempts at once, over all kinds
    /// options.leaseMilliseconds = 60_000           // a handler reports progress at least once a minute
    /// options.drainTimeout = .seconds(30)          // graceful shutdown waits this long for handlers
    /// options.logger.logLevel = .info
    /// let engine = JobEngine(ledger: ledger, options: options)
    /// ```
    public struct Options: Sendable {
        /// Recorded in `started` events; should be unique per running engine. 1…200 bytes
        /// (`validate()`).
        public var workerID: String
        /// How long a claim holds without a heartbeat (progress extends it): 1 ms to a year
        /// (`validate()`).
        public var leaseMilliseconds: Int64 = 30_000
        /// The shortest time between two durable `progress` events of one attempt (0: every
        /// report is written). A report inside the interval is merged into the next durable one
        /// (the latest fraction and message win) and still extends the lease; the last report
        /// before an attempt's outcome is always written. 0 or more, below `leaseMilliseconds`
        /// (`validate()`). See Docs/Embedding.md.
        public var progressIntervalMilliseconds: Int64 = 250
        /// How often the engine stores its fold of the log as a snapshot, so that an engine
        /// starting on a long log reads the snapshot and only the events after it: once at least
        /// this many events (and twice as many as the jobs in flight) have been folded since the
        /// last one, and when `work()` or `workUntilIdle()` returns: at least 1 (`validate()`).
        /// Nil: no snapshot is written or read, and an engine folds the whole log when it
        /// starts. See Docs/Embedding.md.
        public var snapshotIntervalEvents: Int? = 100_000
        /// Attempts this engine runs at once, over all kinds: at least 1. `work()`,
        /// `workUntilIdle()`, `tick()` and `run()` refuse a value below 1 with
        /// `InvalidEngineOptions` before they claim anything (see `validate()`).
        public var concurrency: Int = 4
        /// Seed for the retry jitter, for repeatable tests; nil draws one.
        public var randomSeed: UInt64?
        /// How long running handlers get to finish on graceful shutdown before they are cancelled:
        /// zero or more (`validate()`).
        public var drainTimeout: Duration = .seconds(10)
        /// How long a cancelled handler gets to end (and its interruption to be recorded) before
        /// the shutdown goes on without it. A handler that ignores cancellation cannot be
        /// stopped: it is left running unseen, its job stays `running` until its lease passes and
        /// another engine takes it up again, and whatever it reports or returns later is not
        /// recorded (the engine has given the attempt up; another engine's attempt is fenced).
        /// Zero or more (`validate()`).
        public var cancelGrace: Duration = .seconds(5)
        /// Where the engine logs; every line carries the job id as `job` metadata.
        public var logger = Logger(label: "jobledger.engine")
        /// Where counters and timers go (default: the process's bootstrapped metrics system).
        public var metrics: (any MetricsFactory)?
        /// How staged assets that no event references are cleaned up (an attempt that lost its
        /// claim after staging its result): every `intervalMilliseconds`, assets staged more
        /// than `graceMilliseconds` ago and still unreferenced are removed (an interval of at
        /// least 1 ms and a grace of zero or more: `validate()`). Nil: never.
        public var assetPrune: AssetPrune? = AssetPrune()
        /// How the engine waits out a storage fault (a full disk, an I/O error, a log that became
        /// read-only or vanished): claims and lease sweeps pause and are retried with backoff,
        /// outcomes wait to be recorded, one error is logged when it starts and one line when it
        /// clears. With `giveUpAfter`, `work()` and `workUntilIdle()` throw
        /// `LedgerError.storageFault` once a fault has lasted that long. See Docs/Operations.md.
        public var storageFaults = StorageFaultPolicy()

        /// When orphaned staged assets are removed (see `assetPrune`).
        public struct AssetPrune: Sendable {
            /// How often the engine looks for orphans (default: hourly).
            public var intervalMilliseconds: Int64 = 3_600_000
            /// How old an unreferenced asset must be before it is removed (default: an hour), so bytes
            /// staged a moment before their event is appended are never taken.
            public var graceMilliseconds: Int64 = 3_600_000
            /// Pruning every `intervalMilliseconds`, of assets older than `graceMilliseconds`.
            public init(intervalMilliseconds: Int64 = 3_600_000, graceMilliseconds: Int64 = 3_600_000) {
                self.intervalMilliseconds = intervalMilliseconds
                self.graceMilliseconds = graceMilliseconds
            }
        }

        /// Defaults for everything, with `workerID` host name and process id unless given.
        public init(workerID: String = "\(ProcessInfo.processInfo.hostName)-\(getpid())") {
            self.workerID = workerID
        }
    }
}
