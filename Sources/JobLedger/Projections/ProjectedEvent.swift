/// One event as a projection sees it: where it stands in the log, whose it is, and what it
/// says (no hashes).
public struct ProjectedEvent: Sendable, Hashable {
    public var seq: Int64
    public var job: JobID
    public var version: Int
    public var payload: EventPayload
    public var recordedAt: Timestamp
    public var type: EventType { payload.type }

    public init(seq: Int64, job: JobID, version: Int, payload: EventPayload, recordedAt: Timestamp) {
        self.seq = seq; self.job = job; self.version = version; self.payload = payload; self.recordedAt = recordedAt
    }
}
