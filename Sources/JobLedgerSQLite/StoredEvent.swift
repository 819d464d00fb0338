import GRDB
import JobLedger

/// An event to append: which job, what happened, and the optional guards.
public struct NewEvent: Sendable {
    public var job: JobID
    public var payload: EventPayload
    /// The job's version the caller last saw (0: the job must not exist). A mismatch fails
    /// with `LedgerError.concurrencyConflict` and writes nothing.
    public var expectedVersion: Int?
    /// A repeated key returns the event first stored with it and writes nothing.
    public var idempotencyKey: String?
    /// Keeps an original time (import); nil stamps the event with the ledger's clock.
    public var recordedAt: Timestamp?

    public init(job: JobID, payload: EventPayload, expectedVersion: Int? = nil, idempotencyKey: String? = nil, recordedAt: Timestamp? = nil) {
        self.job = job
        self.payload = payload
        self.expectedVersion = expectedVersion
        self.idempotencyKey = idempotencyKey
        self.recordedAt = recordedAt
    }
}

/// One row of the log exactly as stored, payload still as text. What `verify` and `export` read.
public struct RawEvent: Sendable, Hashable {
    public var seq: Int64
    public var jobID: String
    public var version: Int
    public var type: String
    public var payload: String
    public var recordedAt: Timestamp
    public var idempotencyKey: String?
    public var payloadDigest: String
    public var prevHash: String
    public var hash: String

    package static let columns = "seq, job_id, version, type, payload, recorded_at, idempotency_key, payload_digest, prev_hash, hash"

    package init(row: Row) {
        seq = row[0]
        jobID = row[1]
        version = row[2]
        type = row[3]
        payload = row[4]
        recordedAt = Timestamp(milliseconds: row[5])
        idempotencyKey = row[6]
        payloadDigest = row[7]
        prevHash = row[8]
        hash = row[9]
    }

    /// The event typed and its payload decoded; throws when the row does not hold a valid event.
    public func decoded() throws(LedgerError) -> StoredEvent {
        let job: JobID
        do { job = try JobID(jobID) } catch { throw .invalidJobID(error) }
        let t: EventType
        let p: EventPayload
        do {
            t = try EventType(name: type)
            p = try EventPayload.decode(type: t, text: payload)
        } catch { throw .invalidPayload(error) }
        return StoredEvent(seq: seq, job: job, version: version, payload: p, recordedAt: recordedAt,
                           idempotencyKey: idempotencyKey, payloadDigest: payloadDigest, prevHash: prevHash, hash: hash)
    }
}

/// An event as the log holds it: its place (`seq`, `version`), its typed payload, when it was
/// recorded and its link in the hash chain.
public struct StoredEvent: Sendable, Hashable {
    public var seq: Int64
    public var job: JobID
    public var version: Int
    public var payload: EventPayload
    public var recordedAt: Timestamp
    public var idempotencyKey: String?
    public var payloadDigest: String
    public var prevHash: String
    public var hash: String

    public var type: EventType { payload.type }
}

/// The last event of the log, as `SEQ:HASH`: store it elsewhere, and `verify --expect-head`
/// later proves that nothing was cut off the end.
public struct ChainHead: Sendable, Hashable, CustomStringConvertible {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) { self.seq = seq; self.hash = hash }

    /// Parses `SEQ:HASH`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let s = Int64(parts[0]), s >= 0, parts[1].utf8.count == 64,
              Digest.bytes(fromHex: String(parts[1])) != nil else { return nil }
        seq = s
        hash = parts[1].lowercased()
    }

    public var description: String { "\(seq):\(hash)" }
}

extension RawEvent {
    /// The row form of a stored event (its payload as canonical JSON text, as the log holds it).
    public init(_ e: StoredEvent) {
        seq = e.seq
        jobID = e.job.rawValue
        version = e.version
        type = e.type.rawValue
        payload = e.payload.canonicalText
        recordedAt = e.recordedAt
        idempotencyKey = e.idempotencyKey
        payloadDigest = e.payloadDigest
        prevHash = e.prevHash
        hash = e.hash
    }
}
