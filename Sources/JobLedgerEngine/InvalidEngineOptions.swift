/// Engine options an engine cannot work with, refused by `work()`, `workUntilIdle()`, `tick()`
/// and `run()` before they claim anything: with no slot to run an attempt in, or claims the log
/// would refuse (a worker id it cannot record), an engine would wait or try again forever.
/// Check options early yourself with `JobEngine.Options.validate()`. A kind registered with a
/// `concurrency` below 1 or a `timeout` that is not positive is refused the same way, naming
/// the kind (`kind`) and the parameter (`option`).
///
/// ```swift
/// var options = JobEngine.Options(workerID: "render-1")
/// options.concurrency = 0
/// try options.validate()   // throws: invalid JobEngine option 'concurrency': must be at least 1, got 0
/// ```
public struct InvalidEngineOptions: Error, Sendable, Hashable, CustomStringConvertible {
    /// The option refused, by its name in `JobEngine.Options` (`concurrency`), or for a
    /// registration (`kind` set) the parameter of `register(kind:…)` (`concurrency`, `timeout`).
    public let option: String
    /// What it must be, and what it was.
    public let reason: String
    /// The kind whose registration was refused; nil for an option of `JobEngine.Options`.
    public let kind: String?

    /// A refusal of `option`, saying why.
    public init(option: String, reason: String) { self.option = option; self.reason = reason; self.kind = nil }

    /// A refusal of the parameter `parameter` of `register(kind: kind, …)`, saying why.
    public init(kind: String, parameter: String, reason: String) {
        self.option = parameter; self.reason = reason; self.kind = kind
    }

    /// `invalid JobEngine option '<option>': <reason>`, or for a registration
    /// `invalid registration of kind '<kind>': '<parameter>' <reason>`.
    public var description: String {
        if let kind { return "invalid registration of kind '\(kind)': '\(option)' \(reason)" }
        return "invalid JobEngine option '\(option)': \(reason)"
    }
}

extension JobEngine.Options {
    /// The longest lease an engine takes: a year.
    public static let maxLeaseMilliseconds: Int64 = 365 * 24 * 3_600_000

    /// Throws `InvalidEngineOptions` for an option an engine cannot work with: `concurrency`
    /// below 1, a `workerID` the log cannot record (not 1…200 bytes), a `leaseMilliseconds`
    /// outside 1…`maxLeaseMilliseconds`, a `progressIntervalMilliseconds` below 0 or not below
    /// `leaseMilliseconds`, a `snapshotIntervalEvents` below 1, a negative `drainTimeout` or
    /// `cancelGrace`, an `assetPrune` with an `intervalMilliseconds` below 1 or a negative
    /// `graceMilliseconds`, or a negative duration in `storageFaults`. The engine checks this
    /// itself before it works; call it to refuse bad options where they are made (read from a
    /// configuration file, say).
    ///
    /// ```swift
    /// var options = JobEngine.Options()
    /// options.concurrency = settings.workers
    /// try options.validate()
    /// ```
    public func validate() throws(InvalidEngineOptions) {
        guard concurrency >= 1 else {
            throw InvalidEngineOptions(option: "concurrency", reason: "must be at least 1, got \(concurrency)")
        }
        // Recorded in every claim (`started`): one the log refuses would have every claim
        // refused, and the engine would try again every round, running nothing, for ever.
        guard (1...200).contains(workerID.utf8.count) else {
            throw InvalidEngineOptions(option: "workerID", reason: "must be 1…200 bytes long, got \(workerID.utf8.count)")
        }
        // A claim's lease deadline is recorded as a time: it must lie ahead, and within the
        // years the log records.
        guard (1...Self.maxLeaseMilliseconds).contains(leaseMilliseconds) else {
            throw InvalidEngineOptions(option: "leaseMilliseconds", reason: "must be in 1…\(Self.maxLeaseMilliseconds) (a year), got \(leaseMilliseconds)")
        }
        // A negative interval would read as "written long ago" and merge nothing; a mistake
        // (a sign lost in a configuration file), not a setting.
        guard progressIntervalMilliseconds >= 0 else {
            throw InvalidEngineOptions(option: "progressIntervalMilliseconds",
                                       reason: "must be in 0…\(leaseMilliseconds - 1) (0: every report is written; below leaseMilliseconds), got \(progressIntervalMilliseconds)")
        }
        // A written progress event is what renews a running attempt's lease, and merged reports
        // are written up to an interval apart: an interval as long as the lease would let other
        // engines on the log take over attempts that are still running.
        guard progressIntervalMilliseconds < leaseMilliseconds else {
            throw InvalidEngineOptions(option: "progressIntervalMilliseconds",
                                       reason: "must be below leaseMilliseconds (\(leaseMilliseconds)), got \(progressIntervalMilliseconds): a written progress event is what renews an attempt's lease")
        }
        // 0 or less would have a snapshot written after every round of events: nil turns them off.
        if let snapshotIntervalEvents, snapshotIntervalEvents < 1 {
            throw InvalidEngineOptions(option: "snapshotIntervalEvents",
                                       reason: "must be at least 1 event (nil: no snapshots), got \(snapshotIntervalEvents)")
        }
        guard drainTimeout >= .zero else {
            throw InvalidEngineOptions(option: "drainTimeout", reason: "must be zero or more (zero: cancel running handlers at once), got \(drainTimeout)")
        }
        guard cancelGrace >= .zero else {
            throw InvalidEngineOptions(option: "cancelGrace", reason: "must be zero or more, got \(cancelGrace)")
        }
        if let assetPrune {
            guard assetPrune.intervalMilliseconds >= 1 else {
                throw InvalidEngineOptions(option: "assetPrune.intervalMilliseconds",
                                           reason: "must be at least 1 (nil assetPrune: never prune), got \(assetPrune.intervalMilliseconds)")
            }
            // A negative grace reaches into the future: bytes staged a moment before the event
            // that references them is appended would be removed under it.
            guard assetPrune.graceMilliseconds >= 0 else {
                throw InvalidEngineOptions(option: "assetPrune.graceMilliseconds",
                                           reason: "must be zero or more (how old an unreferenced asset must be to be removed), got \(assetPrune.graceMilliseconds)")
            }
        }
        if let (field, reason) = storageFaults.invalidField {
            throw InvalidEngineOptions(option: "storageFaults.\(field)", reason: reason)
        }
    }
}
