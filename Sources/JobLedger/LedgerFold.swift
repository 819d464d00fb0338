/// Folds events in log order into every job's state: the replay that the engine, `jobs`,
/// `verify` and the replay tool share.
///
/// Only jobs still in flight, and failed jobs (which may be requeued), are kept in full: a job
/// that completes or is canceled leaves `active` and is remembered by its id, status and
/// version alone (enough to refuse anything
/// that follows it), so memory grows by a small entry per finished job rather than by its whole
/// state. Callers that want finished states keep the value `apply` returns.
public struct LedgerFold: Sendable {
    /// A finished job, as much as the fold keeps of it.
    public struct Finished: Sendable, Hashable {
        /// `completed` or `canceled`.
        public var status: JobStatus
        /// The version of the job's last event.
        public var version: Int
    }

    /// Jobs that are queued or running, as a dictionary (made on each call: look one job up
    /// with `state(of:)`).
    public var active: [JobID: JobState] {
        Dictionary(uniqueKeysWithValues: inFlight.values.lazy.map { ($0.id, $0) })
    }
    /// The jobs in flight, packed (see `PackedJobStates`).
    private var inFlight = PackedJobStates()
    /// Jobs that failed for good, kept in full: they can be requeued (dead letters).
    public private(set) var failed: [JobID: JobState] = [:]
    /// Jobs that completed or were canceled.
    public private(set) var finished: [JobID: Finished] = [:]
    /// The `seq` of the last event folded.
    public private(set) var lastSeq: Int64 = 0

    /// An empty fold: no events seen.
    public init() {}

    /// Jobs seen so far.
    public var jobCount: Int { inFlight.count + failed.count + finished.count }

    /// How many jobs are queued or running.
    public var activeCount: Int { inFlight.count }

    /// A queued or running job's state; nil for any other job.
    public func state(of job: JobID) -> JobState? { inFlight[job] }

    /// The version of a job's last event, 0 when the job is unknown.
    public func version(of job: JobID) -> Int {
        state(of: job)?.version ?? failed[job]?.version ?? finished[job]?.version ?? 0
    }

    /// Folds one event; returns the job's new state. Throws, changing nothing, when the
    /// lifecycle refuses it.
    @discardableResult
    public mutating func apply(job: JobID, payload: EventPayload, at time: Timestamp, seq: Int64) throws(LifecycleError) -> JobState {
        let state: JobState
        if let running = try inFlight.modify(job, { (s: inout JobState) throws(LifecycleError) in try s.apply(payload, at: time) }) {
            state = running
            if state.status.isTerminal { inFlight[job] = nil; file(state) }
        } else if var dead = failed[job] {
            try dead.apply(payload, at: time)
            state = dead
            failed[job] = nil
            if state.status.isTerminal { file(state) } else { inFlight[job] = state }
        } else if let done = finished[job] {
            throw LifecycleError(job: job, state: done.status, event: payload.type, rule: .terminal)
        } else {
            state = try Lifecycle.begin(job: job, with: payload, at: time)
            if state.status.isTerminal { file(state) } else { inFlight[job] = state }
        }
        lastSeq = seq
        return state
    }

    private mutating func file(_ state: JobState) {
        if state.status == .failed {
            failed[state.id] = state
        } else {
            finished[state.id] = Finished(status: state.status, version: state.version)
        }
    }
}
