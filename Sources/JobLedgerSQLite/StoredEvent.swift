import GRDB
import JobLedger

/// An event to append: which job, what happened, and the optional guards.
///
/// ```swift
/// // Cancel a job, but only if nothing happened to it since we read it at version 4:
/// _ = try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: "user closed the tab")),
///                                      expectedVersion: 4))
/// ```
public struct NewEvent: Sendable {
    /// The job the event belongs to (a new id for a `queued` event that starts a job).
    public var job: JobID
    /// What happened; the lifecycle decides whether it may happen now.
    public var payload: EventPayload
    /// The job's version the caller last saw (0: the job must not exist). A mismatch fails
    /// with `LedgerError.concurrencyConflict` and writes nothing.
    public var expectedVersion: Int?
    /// A repeated key returns the event first stored with it and writes nothing.
    public var idempotencyKey: String?
    /// Keeps an original time (import); nil stamps the event with the ledger's clock.
    public var recordedAt: Timestamp?

    /// An event for `job`; the guards are off unless given.
    public init(job: JobID, payload: EventPayload, expectedVersion: Int? = nil, idempotencyKey: String? = nil, recordedAt: Timestamp? = nil) {
        self.job = job
        self.payload = payload
        self.expectedVersion = expectedVersion
        self.idempotencyKey = idempotencyKey
        self.recordedAt = recordedAt
    }
}

/// One row of the log exactly as stored, payload still as text. What `verify` and `export` read.
/// `Docs/EventLog.md` describes every column.
public struct RawEvent: Sendable, Hashable {
    /// The event's place in the whole log: 1, 2, 3 … in commit order.
    public var seq: Int64
    /// The job id as stored (not yet checked).
    public var jobID: String
    /// The event's place in its job: 1, 2, 3 …
    public var version: Int
    /// The event type's name as stored (`queued`, `started` …).
    public var type: String
    /// The payload's canonical JSON text.
    public var payload: String
    /// When the event was recorded (UTC, milliseconds).
    public var recordedAt: Timestamp
    /// The idempotency key it was appended with, if any.
    public var idempotencyKey: String?
    /// SHA-256 of `payload`, hex.
    public var payloadDigest: String
    /// The previous event's `hash` (64 zeros for the first event).
    public var prevHash: String
    /// The column whose stored bytes are not the text above (not valid UTF-8, read with U+FFFD
    /// in their place; or holding a NUL, where the text read stops), if any: no append writes
    /// such bytes.
    package var notUTF8: String? = nil
    /// This event's link in the hash chain, hex.
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
        notUTF8 = StoredText.columnNotUTF8(row, [(1, "job_id", jobID), (3, "type", type), (4, "payload", payload), (6, "idempotency_key", idempotencyKey)])
    }

    /// Whether the row's hash checks out under `rule`: its link recomputed from its columns and
    /// the previous hash it names. Nil when its job id or type is not one a log can hold (then
    /// nothing can be recomputed; decoding the row says what is wrong).
    package func hashChecksOut(under rule: HashChain.Rule) -> Bool? {
        recomputedHash(under: rule).map { $0 == hash }
    }

    /// The hash the row's own fields give under `rule` (nil when its job id or type is not one
    /// the log could have written).
    package func recomputedHash(under rule: HashChain.Rule) -> String? {
        guard let job = try? JobID(jobID), let type = EventType(rawValue: type) else { return nil }
        let canonical = HashChain.canonical(rule: rule, seq: seq, job: job, version: version, type: type, recordedAt: recordedAt,
                                            payloadDigest: payloadDigest, idempotencyKey: idempotencyKey)
        return Digest.chain(prevHash: prevHash, canonical: canonical)
    }

    /// The event typed and its payload decoded; throws `LedgerError.storage` naming the seq and
    /// the job when the row does not hold a valid event (changed behind the log's back, or
    /// written by an earlier build): the file's state, not bad input.
    public func decoded() throws(LedgerError) -> StoredEvent {
        do { return try decodedOrWhy() } catch { throw invalid(error) }
    }

    /// `decoded()` throwing why the row is not an event (`InvalidJobID`, `PayloadError`), for
    /// `verify`, which says it its own way.
    package func decodedOrWhy() throws -> StoredEvent {
        if let column = notUTF8 { throw StoredText.NotUTF8(column: column) }
        let job = try JobID(jobID)
        let t = try EventType(name: type)
        let p = try EventPayload.decode(type: t, text: payload, exactNumbers: false)  // stored: read as it is
        return StoredEvent(seq: seq, job: job, version: version, payload: p, recordedAt: recordedAt,
                           idempotencyKey: idempotencyKey, payloadDigest: payloadDigest, prevHash: prevHash, hash: hash)
    }

    private func invalid(_ error: any Error) -> LedgerError { .invalidStoredEvent(seq: seq, job: jobID, error) }
}

extension LedgerError {
    /// A row of the log that does not hold a valid event: this build writes only valid ones, so it
    /// was changed behind the log's back (or an earlier build wrote it, EventLog.md § Known gaps).
    /// The file's state (`storage`, exit 6), not bad input.
    package static func invalidStoredEvent(seq: Int64, job: String, _ error: any Error) -> LedgerError {
        let job = String(decoding: job.utf8.prefix(100), as: UTF8.self).debugDescription
        return .storage("the event at seq \(seq) (job \(job)) is not a valid event (\(error)): it was changed behind the log's back, "
                        + "or an earlier build wrote it; verify the log to find the first bad seq")
    }
}

/// An event as the log holds it: its place (`seq`, `version`), its typed payload, when it was
/// recorded and its link in the hash chain. What `Ledger.append(_:)` returns and the readers
/// (`forEachEvent`, `events(from:pageSize:)`, `page(from:limit:)`) hand out.
///
/// ```swift
/// let e = try await ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design"))))
/// switch e.payload {
/// case .queued(let q): print("seq \(e.seq): \(q.kind) queued at \(e.recordedAt.iso8601)")
/// default: break
/// }
/// ```
public struct StoredEvent: Sendable, Hashable {
    /// The event's place in the whole log: 1, 2, 3 … in commit order.
    public var seq: Int64
    /// The job it belongs to.
    public var job: JobID
    /// Its place in the job: 1, 2, 3 …
    public var version: Int
    /// What happened, typed.
    public var payload: EventPayload
    /// When it was recorded (the ledger's clock, or the original time of an import).
    public var recordedAt: Timestamp
    /// The idempotency key it was appended with, if any.
    public var idempotencyKey: String?
    /// SHA-256 of the payload's canonical text, hex.
    public var payloadDigest: String
    /// The previous event's `hash` (64 zeros for the first event).
    public var prevHash: String
    /// This event's link in the hash chain, hex.
    public var hash: String

    /// The payload's event type.
    public var type: EventType { payload.type }
}

/// The last event of the log, as `SEQ:HASH`: store it elsewhere, and `verify --expect-head`
/// later proves that nothing was cut off the end.
///
/// ```swift
/// let saved = "\(try ledger.head()!)"               // "SEQ:HASH": keep it somewhere else
/// // … later, on the same log (a nil head would check no head at all, so unwrap it):
/// guard let expected = ChainHead(saved) else { fatalError("not a SEQ:HASH head: \(saved)") }
/// let report = try ledger.verify(expectHead: expected)
/// print(report.isValid ? "nothing changed, nothing cut off" : "\(report.problem!)")
/// ```
public struct ChainHead: Sendable, Hashable, CustomStringConvertible {
    /// The last event's `seq`.
    public var seq: Int64
    /// The last event's `hash`, lower-case hex.
    public var hash: String

    /// A head from its parts.
    public init(seq: Int64, hash: String) { self.seq = seq; self.hash = hash }

    /// Parses `SEQ:HASH`; nil for anything else, white space around it included (trim a head
    /// read back from a file). `verify(expectHead:)` checks no head when given nil.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let s = Int64(parts[0]), s >= 0, parts[1].utf8.count == 64,
              Digest.bytes(fromHex: String(parts[1])) != nil else { return nil }
        seq = s
        hash = parts[1].lowercased()
    }

    /// `SEQ:HASH`, the form `jobledger digest` prints and `init(_:)` parses.
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
