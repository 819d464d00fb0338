/// One event as a projection sees it: where it stands in the log, whose it is, and what it
/// says (no hashes). What a state projection's `apply` and an effect projection's `items(for:…)`
/// are given.
public struct ProjectedEvent: Sendable, Hashable {
    /// The event's place in the whole log.
    public var seq: Int64
    /// The job it belongs to.
    public var job: JobID
    /// Its place in the job.
    public var version: Int
    /// What happened, typed.
    public var payload: EventPayload
    /// When it was recorded.
    public var recordedAt: Timestamp
    /// The payload's event type.
    public var type: EventType { payload.type }

    /// An event from its parts.
    public init(seq: Int64, job: JobID, version: Int, payload: EventPayload, recordedAt: Timestamp) {
        self.seq = seq; self.job = job; self.version = version; self.payload = payload; self.recordedAt = recordedAt
    }
}
