import GRDB
import JobLedger

/// An event with its payload already encoded and digested (work done outside the writer).
struct PreparedEvent: Sendable {
    var event: NewEvent
    /// The payload's canonical JSON, UTF-8.
    var text: [UInt8]
    var digest: String
    /// The job's state at the event's `expectedVersion`, as the caller read it from the log
    /// (the engine's claim read). Lets the writer skip reading the job again: the insert at the
    /// next version succeeds only if the log is still at that version (`UNIQUE(job_id,
    /// version)`, and versions are never removed), and when it is refused the state is read
    /// from the log and the event checked against that.
    var known: JobState?

    /// Checks the payload against the rules decoding enforces (ranges, lengths), so nothing
    /// is stored that the log could not read back, then encodes and digests it. An event that
    /// an attempt writes must name its attempt, and a new `queued` event's input may not use the
    /// key the owner was once recorded under (`requireClaim`, i.e. a new event; an import of
    /// events recorded before fencing or the owner field does not ask for either).
    init(_ event: NewEvent, requireClaim: Bool = true) throws(LedgerError) {
        do { try event.payload.validate() } catch { throw .invalidPayload(error) }
        if requireClaim, case .queued(let q) = event.payload {
            do { try q.checkNew() } catch { throw .invalidPayload(error) }
        }
        if requireClaim {
            do { try event.payload.checkNewAsset() } catch { throw .invalidPayload(error) }
        }
        if requireClaim, event.payload.isWrittenByAnAttempt, event.payload.claim == nil {
            throw .invalidPayload(PayloadError(type: event.payload.type, reason:
                "missing field 'attempt': a \(event.payload.type) event names the attempt that writes it (its claim), so that a worker whose lease expired cannot write into the attempt that replaced it"))
        }
        // From here on the payload is the one the log gives back (`asStored`: its canonical text
        // writes a whole double as an integer), so that what the writer folds, caches, returns
        // and hands its observers is what a read of the event would decode.
        var stored = event
        stored.payload = event.payload.asStored
        self.event = stored
        text = stored.payload.canonicalBytes
        digest = Digest.sha256Hex(text)
    }
}

/// Validating and inserting one append request inside an append transaction: the one path that
/// every append takes, of one event or many, from a caller, the group committer or an import.
extension Ledger {
    /// Appends a request of several events after `head`, each validated against its job's
    /// state (this transaction's, the writer's cache while `trustCache`, or the log's), and
    /// returns them as stored (for a repeated idempotency key, the event first stored with it).
    /// All or nothing: when an event is refused, the request's earlier events are rolled back
    /// to a savepoint, `head` and `jobs` are left as they were, and the error says why; the
    /// transaction's other requests are unaffected. Events are hashed under `rule` (default:
    /// this ledger's `appendRule`; an import keeps older lines' rule).
    func appendRequest(_ events: [PreparedEvent], db: Database, head: inout ChainHead, jobs: inout BatchStates,
                       trustCache: Bool = false, rule: HashChain.Rule? = nil, insert: Statement? = nil) throws -> [StoredEvent] {
        if events.count == 1 {
            return [try appendRequest(events[0], db: db, head: &head, jobs: &jobs, trustCache: trustCache, rule: rule, insert: insert)]
        }
        let rule = rule ?? appendRule
        let insert = try insert ?? insertStatement(db)
        var localHead = head
        var undo: [(job: JobID, state: JobState?)] = []
        var out: [StoredEvent] = []
        var recorded: [(StoredEvent, JobState)] = []
        out.reserveCapacity(events.count)
        try db.cachedStatement(sql: "SAVEPOINT request").execute()
        do {
            for p in events {
                let (event, state) = try appendEvent(p, db: db, after: localHead, jobs: jobs, trustCache: trustCache, rule: rule, insert: insert)
                if let state {
                    undo.append((p.event.job, jobs[p.event.job]))
                    jobs[p.event.job] = state
                    if jobs.keepsAppended { recorded.append((event, state)) }
                    localHead = ChainHead(seq: event.seq, hash: event.hash)
                }
                out.append(event)
            }
            try db.cachedStatement(sql: "RELEASE request").execute()
        } catch {
            try db.cachedStatement(sql: "ROLLBACK TO request").execute()
            try db.cachedStatement(sql: "RELEASE request").execute()
            for (job, state) in undo.reversed() { jobs[job] = state }
            throw error
        }
        jobs.recorded(recorded)
        head = localHead
        return out
    }

    /// `appendRequest` for a request of one event, the common case: the same `appendEvent`, and
    /// no savepoint, arrays or undo, since one event is all or nothing by itself.
    func appendRequest(_ p: PreparedEvent, db: Database, head: inout ChainHead, jobs: inout BatchStates,
                       trustCache: Bool = false, rule: HashChain.Rule? = nil, insert: Statement? = nil) throws -> StoredEvent {
        let (event, state) = try appendEvent(p, db: db, after: head, jobs: jobs, trustCache: trustCache, rule: rule ?? appendRule,
                                             insert: try insert ?? insertStatement(db))
        if let state {
            jobs.recorded(event, after: state)
            head = ChainHead(seq: event.seq, hash: event.hash)
        }
        return event
    }

    /// Validates and inserts one event after `head`. Returns it as stored with its job's new
    /// state, or, when its idempotency key was used before (in the log or earlier in this
    /// transaction), the event first stored with that key and no state (nothing was appended).
    ///
    /// A `queued` for a job whose state is neither in this transaction nor trusted in the cache
    /// is inserted at version 1 without first asking the log whether the job exists:
    /// `UNIQUE(job_id, version)` answers that, and only when it refuses (the job exists; the
    /// failed INSERT changed nothing) is the state loaded and the event validated against it.
    private func appendEvent(_ p: PreparedEvent, db: Database, after head: ChainHead, jobs: BatchStates, trustCache: Bool,
                             rule: HashChain.Rule, insert: Statement) throws -> (StoredEvent, JobState?) {
        let e = p.event
        if case .queued(let q) = e.payload, q.owner != nil, !recordsOwners {
            throw LedgerError.invalidPayload(PayloadError(type: .queued, reason:
                "this log is at schema v\(schemaVersion) (opened without migrating it), whose jobledger does not know the field 'owner' and would refuse to read the event; open the log with migration (the default) to record owners, or submit without one"))
        }
        if let key = try checkIdempotencyKey(e), let earlier = try storedEvent(idempotencyKey: key, db: db) { return (earlier, nil) }
        var state: JobState?
        var speculative = false
        if let known = jobs[e.job] {
            state = known
        } else if trustCache, let cached = committer.cache.state(of: e.job) {
            state = cached
        } else if case .queued = e.payload, (e.expectedVersion ?? 0) == 0 {
            speculative = true
        } else if let known = p.known, known.id == e.job, known.version == e.expectedVersion {
            state = known
            speculative = true
        } else {
            state = try stateFromLog(e.job, db: db)
        }
        var stored = try stage(p, state: &state, after: head, rule: rule)
        do {
            try Ledger.insertEvent(stored, payload: p.text, with: insert, db: db)
        } catch let error as DatabaseError where speculative && error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            state = try stateFromLog(e.job, db: db)
            stored = try stage(p, state: &state, after: head, rule: rule)
            try Ledger.insertEvent(stored, payload: p.text, with: insert, db: db)
        }
        return (stored, state)
    }

    /// The event's idempotency key, after checking its length and that it holds no NUL: a key
    /// with one was stored whole but read back cut at the NUL (SQLite text, read as a C
    /// string), so the event's hash no longer checked out and the log failed `verify` for good;
    /// and the same key again was not found, and failed on the unique index instead.
    private func checkIdempotencyKey(_ e: NewEvent) throws -> String? {
        guard let key = e.idempotencyKey else { return nil }
        guard (1...256).contains(key.utf8.count) else {
            throw LedgerError.invalidPayload(PayloadError(type: nil, reason: "an idempotency key must be 1…256 bytes long"))
        }
        guard !key.utf8.contains(0) else {
            throw LedgerError.invalidPayload(PayloadError(type: nil, reason: "an idempotency key must not hold a NUL (U+0000)"))
        }
        return key
    }

    /// The event first stored with this idempotency key, if any.
    private func storedEvent(idempotencyKey key: String, db: Database) throws -> StoredEvent? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(RawEvent.columns) FROM events WHERE idempotency_key = ?"), arguments: [key]) else { return nil }
        return try RawEvent(row: row).decoded()
    }

    /// Validates one event against the job's current state (nil: no such job) and builds it as
    /// it will be stored after `head`, moving `state` on in place. Throws, writing nothing and
    /// leaving `state` as it was, when the size, the expected version or the transition is wrong.
    private func stage(_ p: PreparedEvent, state: inout JobState?, after head: ChainHead, rule: HashChain.Rule) throws -> StoredEvent {
        let e = p.event
        guard p.text.count <= configuration.maxPayloadBytes else {
            throw LedgerError.payloadTooLarge(job: e.job, size: p.text.count, limit: configuration.maxPayloadBytes)
        }
        let version = state?.version ?? 0
        if let expected = e.expectedVersion, expected != version {
            throw LedgerError.concurrencyConflict(job: e.job, expected: expected, actual: version)
        }
        let at = e.recordedAt ?? configuration.clock()
        // What an export can carry and an import takes (four-digit years from 1970): a time
        // outside it was stored, verified and exported, and the export did not import.
        guard Timestamp.recordable.contains(at.milliseconds) else {
            throw LedgerError.invalidPayload(PayloadError(type: e.payload.type, reason: "recorded_at \(at.milliseconds) ms is outside \(Timestamp.recordableText), what a log records (and an export carries)"))
        }
        do {
            // `apply` checks every rule before it changes anything, so a refusal leaves `state` intact.
            if state == nil { state = try Lifecycle.begin(job: e.job, with: e.payload, at: at) } else { try state!.apply(e.payload, at: at) }
        } catch { throw LedgerError.rejected(error) }
        let seq = head.seq + 1, newVersion = state!.version
        let hash = Digest.eventHash(rule: rule, prevHash: head.hash, seq: seq, job: e.job, version: newVersion,
                                    type: e.payload.type, recordedAt: at, payloadDigest: p.digest, idempotencyKey: e.idempotencyKey)
        return StoredEvent(seq: seq, job: e.job, version: newVersion, payload: e.payload, recordedAt: at,
                           idempotencyKey: e.idempotencyKey, payloadDigest: p.digest, prevHash: head.hash, hash: hash)
    }

    /// The job's state as the log has it (nil: no such job): the cached one when it is still at
    /// the log's version, otherwise folded from the log (only the events after the cached
    /// version, when the cached one is older).
    private func stateFromLog(_ job: JobID, db: Database) throws -> JobState? {
        let version = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(version) FROM events WHERE job_id = ?"), arguments: [job.rawValue])
        guard let version else { return nil }
        let cached = committer.cache.state(of: job)
        if let cached, cached.version == version { return cached }
        return try Ledger.foldJob(db, job: job, from: (cached?.version ?? 0) < version ? cached : nil)
    }

    func insertStatement(_ db: Database) throws -> Statement {
        try db.cachedStatement(sql: """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, idempotency_key, payload_digest, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
    }

    /// Binds and steps the prepared INSERT directly (no per-row argument boxing: this runs
    /// once per event on the append path).
    static func insertEvent(_ s: StoredEvent, payload: [UInt8], with insert: Statement, db: Database) throws {
        let b = DirectBinding(insert)
        b.int(1, s.seq)
        b.text(2, s.job.rawValue)
        b.int(3, Int64(s.version))
        b.text(4, s.type.rawValue)
        b.text(5, utf8: payload)
        b.int(6, s.recordedAt.milliseconds)
        b.text(7, s.idempotencyKey)
        b.text(8, s.payloadDigest)
        b.text(9, s.prevHash)
        b.text(10, s.hash)
        try b.run(db)
    }
}

extension Database {
    /// `BEGIN IMMEDIATE` … `COMMIT` through cached statements (GRDB's `inTransaction` prepares
    /// both statements again every time; this runs once per append transaction). Rolls back
    /// when `body` or the commit throws.
    package func inImmediateTransaction(_ body: () throws -> Void) throws {
        try cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            try body()
            try cachedStatement(sql: "COMMIT TRANSACTION").execute()
        } catch {
            if isInsideTransaction { try? cachedStatement(sql: "ROLLBACK TRANSACTION").execute() }
            throw error
        }
    }
}
