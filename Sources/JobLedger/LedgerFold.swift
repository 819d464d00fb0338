/// Folds events in log order into every job's state: the replay that the engine, `jobs`,
/// `verify` and the replay tool share.
public struct LedgerFold: Sendable {
    public private(set) var jobs: [JobID: JobState] = [:]
    /// The `seq` of the last event folded.
    public private(set) var lastSeq: Int64 = 0

    public init() {}

    public mutating func apply(job: JobID, payload: EventPayload, at time: Timestamp, seq: Int64) throws(LifecycleError) {
        let (next, _) = try Lifecycle.apply(payload, to: jobs[job], job: job, at: time)
        jobs[job] = next
        lastSeq = seq
    }
}
