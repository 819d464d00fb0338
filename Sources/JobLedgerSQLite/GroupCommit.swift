import Foundation
import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// Gathers concurrent appends into one transaction. A caller that finds the writer idle commits
/// its own events at once, without suspending. Callers that arrive while a commit is under way
/// queue up; a leader task then commits everything queued in one transaction, resumes those
/// callers, and repeats while more is queued. No caller returns before its events are committed.
final class GroupCommitter: Sendable {
    struct Request {
        let events: [PreparedEvent]
        let continuation: CheckedContinuation<[StoredEvent], any Error>
    }

    struct State {
        var pending: [Request] = []
        var leaderActive = false
        /// States of jobs this ledger appended to since another connection last committed
        /// (emptied whenever `data_version` shows one did); used without asking the log while
        /// no other connection commits, otherwise checked against the log's version.
        var cache: [JobID: JobState] = [:]
        /// Transactions committed by this ledger's appends (for tests and benchmarks).
        var transactions = 0
        /// Append requests received so far (for tests).
        var received = 0
        /// The head after this ledger's last commit, and the writer connection's
        /// `PRAGMA data_version` then. While data_version is unchanged no other connection has
        /// committed, so the head and the cached job states are still the log's.
        var head: ChainHead?
        var dataVersion: Int64?
        /// The writer connection's `SQLITE_FCNTL_DATA_VERSION` right after this ledger's last
        /// commit. Unlike `data_version` it also moves with the connection's own commits, so an
        /// unchanged value proves that nothing at all was committed since, with no statement run.
        var fileVersion: UInt32?
    }

    let state = Mutex(State())
    /// Largest batch handed to one transaction.
    let maxBatch = 1024
    static let cacheLimit = 50_000
}

/// An event with its payload already encoded and digested (work done outside the writer).
struct PreparedEvent: Sendable {
    var event: NewEvent
    /// The payload's canonical JSON, UTF-8.
    var text: [UInt8]
    var digest: String

    /// Checks the payload against the rules decoding enforces (ranges, lengths), so nothing
    /// is stored that the log could not read back, then encodes and digests it. An event that
    /// an attempt writes must name its attempt (`requireClaim`; an import of events recorded
    /// before fencing does not ask for it).
    init(_ event: NewEvent, requireClaim: Bool = true) throws(LedgerError) {
        do { try event.payload.validate() } catch { throw .invalidPayload(error) }
        if requireClaim, event.payload.isWrittenByAnAttempt, event.payload.claim == nil {
            throw .invalidPayload(PayloadError(type: event.payload.type, reason:
                "missing field 'attempt': a \(event.payload.type) event names the attempt that writes it (its claim), so that a worker whose lease expired cannot write into the attempt that replaced it"))
        }
        self.event = event
        text = event.payload.canonicalBytes
        digest = Digest.sha256Hex(text)
    }
}

extension Ledger {
    /// How many append transactions this ledger has committed; fewer than the appends made
    /// when group commit gathered concurrent callers.
    package var appendTransactions: Int { writer.state.withLock { $0.transactions } }

    /// Append requests received so far, committed or not.
    var receivedAppends: Int { writer.state.withLock { $0.received } }

    /// Appends one event and returns it as stored (or, for a repeated idempotency key, the event
    /// first stored with that key). Returns only after the event is committed.
    public func append(_ event: NewEvent) async throws(LedgerError) -> StoredEvent {
        let prepared = try PreparedEvent(event)
        guard claimWriter() else { return try await enqueue([prepared])[0] }
        // The common case of one event with nobody else committing: no arrays, no dictionaries.
        let result: Result<StoredEvent, LedgerError>
        if let now = commitOneWithoutWaiting(prepared) { result = now } else { result = await commit([[prepared]])[0].map { $0[0] } }
        handOverLeadership()
        return try result.get()
    }

    /// Appends events atomically: all are committed together, or none (the error says why).
    public func append(_ newEvents: [NewEvent]) async throws(LedgerError) -> [StoredEvent] {
        if newEvents.isEmpty { return [] }
        // Encoding and digesting the payload needs no lock: done here, on the caller's task, in
        // parallel with whatever the writer is committing.
        var events: [PreparedEvent] = []
        events.reserveCapacity(newEvents.count)
        for e in newEvents { events.append(try PreparedEvent(e)) }
        guard claimWriter() else { return try await enqueue(events) }
        let result: Result<[StoredEvent], LedgerError>
        if let now = commitWithoutWaiting(events) { result = now } else { result = await commit([events])[0] }
        handOverLeadership()
        return try result.get()
    }

    /// Fast path: when nobody is committing, the caller becomes the writer and commits at once,
    /// without suspending (then hands over with `handOverLeadership`).
    private func claimWriter() -> Bool {
        writer.state.withLock { s in
            s.received += 1
            if s.leaderActive || !s.pending.isEmpty { return false }
            s.leaderActive = true
            return true
        }
    }

    /// Queues the events for the leader's next transaction and waits until it has committed them.
    private func enqueue(_ events: [PreparedEvent]) async throws(LedgerError) -> [StoredEvent] {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let isLeader = writer.state.withLock { s in
                    s.pending.append(.init(events: events, continuation: continuation))
                    if s.leaderActive { return false }
                    s.leaderActive = true
                    return true
                }
                if isLeader { Task.detached { await self.lead() } }
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw map(error)
        }
    }

    /// Called by a leader that has finished its own work: gives up leadership, or, when
    /// callers queued meanwhile, passes it to a task that commits for them.
    private func handOverLeadership() {
        let more = writer.state.withLock { s in
            if s.pending.isEmpty { s.leaderActive = false; return false }
            return true
        }
        if more { Task.detached { await self.lead() } }
    }

    /// The leader's loop: commit everything queued in one transaction, resume those callers,
    /// yield so that they can queue their next appends, repeat until nothing is queued.
    private func lead() async {
        while true {
            let batch: [GroupCommitter.Request] = writer.state.withLock { s in
                if s.pending.isEmpty { s.leaderActive = false; return [] }
                let n = min(s.pending.count, writer.maxBatch)
                let b = Array(s.pending.prefix(n))
                s.pending.removeFirst(n)
                return b
            }
            if batch.isEmpty { return }
            let results = await commit(batch.map(\.events))
            for (r, result) in zip(batch, results) { r.continuation.resume(with: result) }
            await Task.yield()
        }
    }

    /// The uncontended fast path: commits on the caller's thread, but only if the write lock is
    /// free right now (busy timeout 0). Returns nil when another connection holds the lock;
    /// the caller then waits on GRDB's writer queue instead of blocking its own thread.
    private func withoutWaiting<T>(_ body: (Database) throws -> Result<T, LedgerError>) -> Result<T, LedgerError>? {
        // Another write of this ledger holds or waits for the writer queue: waiting for it
        // would block this thread of the cooperative pool.
        guard gate.tryEnterFast() else { return nil }
        defer { gate.leaveFast() }
        let timeoutMs = busyTimeoutMilliseconds
        // The result leaves through a local, not as GRDB's return value: GRDB's generic
        // `writeWithoutTransaction` is not specialized for our types, so a returned
        // `Result<StoredEvent, …>` would be copied through value witnesses at every layer.
        var outcome: Result<T, LedgerError>?
        do {
            try pool.writeWithoutTransaction { db in
                sqlite3_busy_timeout(db.sqliteConnection, 0)
                defer { sqlite3_busy_timeout(db.sqliteConnection, timeoutMs) }
                outcome = try body(db)
            }
            return outcome
        } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
            return nil
        } catch {
            return .failure(map(error))
        }
    }

    private func commitWithoutWaiting(_ events: [PreparedEvent]) -> Result<[StoredEvent], LedgerError>? {
        withoutWaiting { db in
            var result: Result<[StoredEvent], LedgerError> = .success([])
            var touched: [JobID: JobState?] = [:]
            let start = try inBatch(db) { head, trusted in
                touched.removeAll()
                do {
                    result = .success(try appendRequest(events, db: db, head: &head, touched: &touched, trustCache: trusted))
                } catch let e as LedgerError {
                    result = .failure(e)
                }
            }
            recordCommit(touched: touched, start: start, db: db)
            return result
        }
    }

    private func commitOneWithoutWaiting(_ event: PreparedEvent) -> Result<StoredEvent, LedgerError>? {
        withoutWaiting { db in
            var result: Result<StoredEvent, LedgerError> = .failure(.storage("not appended"))
            var next: JobState?
            let start = try inBatch(db) { head, trusted in
                next = nil
                do {
                    let (stored, state) = try appendOne(event, db: db, head: &head, known: nil, trustCache: trusted, rule: appendRule)
                    result = .success(stored)
                    next = state
                } catch let e as LedgerError {
                    result = .failure(e)
                }
            }
            recordCommit(one: next.map { (event.event.job, $0) }, start: start, db: db)
            return result
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, starting from the log's head (which
    /// `body` moves on as it appends) and telling it whether the cache can be trusted. Returns
    /// where the batch started, with the head it ended at.
    private func inBatch(_ db: Database, _ body: (inout ChainHead, Bool) throws -> Void) throws -> BatchStart {
        var start = BatchStart(head: ChainHead(seq: 0, hash: HashChain.genesis), trusted: false, dataVersion: 0)
        try db.inImmediateTransaction {
            start = try beginBatch(db)
            var head = start.head
            try body(&head, start.trusted)
            start.head = head
        }
        return start
    }

    /// Drops the remembered head, after a write that did not go through the committer (import).
    func forgetCachedHead() { writer.state.withLock { $0.head = nil; $0.dataVersion = nil; $0.fileVersion = nil }; appended.signal() }

    /// Where a batch starts: the head, and whether the cache can be trusted without asking the
    /// log (no other connection committed since this ledger's last commit).
    struct BatchStart: Sendable {
        var head: ChainHead
        var trusted: Bool
        var dataVersion: Int64
    }

    private func beginBatch(_ db: Database) throws -> BatchStart {
        let (cachedHead, cachedDV, cachedFV) = writer.state.withLock { ($0.head, $0.dataVersion, $0.fileVersion) }
        // Nothing committed on this file since our last commit: no need to ask `data_version`.
        if let cachedHead, let cachedDV, let cachedFV, let current = Ledger.fileDataVersion(db), cachedFV == current {
            return BatchStart(head: cachedHead, trusted: true, dataVersion: cachedDV)
        }
        let dv = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? -1
        if let cachedHead, cachedDV == dv { return BatchStart(head: cachedHead, trusted: true, dataVersion: dv) }
        // Another connection committed: any cached state may be stale, including those of jobs
        // this batch does not touch. Start the cache afresh from this batch on, so that a later
        // trusted batch only ever trusts states recorded since this data_version.
        writer.state.withLock { $0.cache.removeAll(keepingCapacity: true) }
        let head = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
        return BatchStart(head: head, trusted: false, dataVersion: dv)
    }

    /// After a commit: count it, remember the head, and refresh the cache of job states
    /// (`touched` for a batch, `one` for a single event).
    private func recordCommit(touched: [JobID: JobState?] = [:], one: (JobID, JobState)? = nil, start: BatchStart, db: Database) {
        let fileVersion = Ledger.fileDataVersion(db)
        func remember(_ job: JobID, _ st: JobState?, in s: inout GroupCommitter.State) {
            if let st, !st.status.isTerminal { s.cache[job] = st } else { s.cache[job] = nil }
        }
        writer.state.withLock { s in
            s.transactions += 1
            s.head = start.head
            s.dataVersion = start.dataVersion
            s.fileVersion = fileVersion
            if s.cache.count > GroupCommitter.cacheLimit { s.cache.removeAll(keepingCapacity: true) }
            for (job, st) in touched { remember(job, st, in: &s) }
            if let (job, st) = one { remember(job, st, in: &s) }
        }
        if !touched.isEmpty || one != nil { appended.signal() }
    }

    /// Commits the requests in one transaction; each request succeeds or fails on its own.
    /// SQLite runs on GRDB's writer queue, so a writer waiting for another process's lock
    /// never blocks a thread of Swift's cooperative pool.
    private func commit(_ batch: [[PreparedEvent]]) async -> [Result<[StoredEvent], LedgerError>] {
        let outcome: [Result<[StoredEvent], LedgerError>]
        do {
            outcome = try await gatedWriteWithoutTransaction { db in
                var results: [Result<[StoredEvent], LedgerError>] = []
                var touched: [JobID: JobState?] = [:]
                let start = try self.inBatch(db) { head, trusted in
                    results.removeAll(keepingCapacity: true)
                    touched.removeAll(keepingCapacity: true)
                    for events in batch {
                        do {
                            results.append(.success(try self.appendRequest(events, db: db, head: &head, touched: &touched, trustCache: trusted)))
                        } catch let e as LedgerError {
                            results.append(.failure(e))
                        }
                    }
                }
                // Still on the writer queue: the head and cache are recorded before any other
                // write (an import, another batch) can run.
                self.recordCommit(touched: touched, start: start, db: db)
                return results
            }
        } catch {
            return Array(repeating: .failure(map(error)), count: batch.count)
        }
        return outcome
    }

    /// Validates one request completely in memory, then inserts it. A request that fails
    /// validation writes nothing; the others in the transaction are unaffected.
    func appendRequest(_ events: [PreparedEvent], db: Database, head: inout ChainHead,
                       touched: inout [JobID: JobState?], trustCache: Bool = false, rule: HashChain.Rule? = nil) throws -> [StoredEvent] {
        let rule = rule ?? appendRule
        if events.count == 1 {
            let job = events[0].event.job
            let (stored, next) = try appendOne(events[0], db: db, head: &head, known: touched[job], trustCache: trustCache, rule: rule)
            if let next { touched[job] = .some(next) }
            return [stored]
        }
        var localHead = head
        var local: [(job: JobID, state: JobState)] = []  // states within this request (usually one job)
        var localIndexByJob: [JobID: Int] = [:]  // index into `local`, for large requests
        var out: [StoredEvent] = []
        var inserts: [(StoredEvent, [UInt8])] = []
        out.reserveCapacity(events.count)
        inserts.reserveCapacity(events.count)
        for p in events {
            let e = p.event
            if let key = try checkIdempotencyKey(e) {
                if let earlier = inserts.first(where: { $0.0.idempotencyKey == key }) { out.append(earlier.0); continue }
                if let stored = try storedEvent(idempotencyKey: key, db: db) { out.append(stored); continue }
            }
            let localIndex = events.count <= 8 ? local.firstIndex { $0.job == e.job } : localIndexByJob[e.job]
            var state: JobState?
            if let i = localIndex { state = local[i].state } else if let s = touched[e.job] { state = s } else { state = try loadState(e.job, db: db, trustCache: trustCache) }
            let stored = try stage(p, state: &state, after: localHead, rule: rule)
            localHead = ChainHead(seq: stored.seq, hash: stored.hash)
            if let i = localIndex {
                local[i].state = state!
            } else {
                if events.count > 8 { localIndexByJob[e.job] = local.count }
                local.append((e.job, state!))
            }
            out.append(stored)
            inserts.append((stored, p.text))
        }
        let insert = try insertStatement(db)
        for (s, text) in inserts { try Ledger.insertEvent(s, payload: text, with: insert, db: db) }
        head = localHead
        for (job, st) in local { touched[job] = .some(st) }
        return out
    }

    /// `appendRequest` for a request of one event, the common case, without its bookkeeping.
    /// A `queued` event for a job this batch has not seen is inserted at version 1 without
    /// first asking the log whether the job exists: `UNIQUE(job_id, version)` answers that,
    /// and only when it refuses (the job exists) is the state loaded and the event validated
    /// against it.
    ///
    /// `known` is the job's state when the batch already holds it (`.some(nil)`: no such job).
    /// Returns the stored event and the job's new state (nil when an idempotency key matched
    /// and nothing was appended).
    private func appendOne(_ p: PreparedEvent, db: Database, head: inout ChainHead,
                           known batchState: JobState??, trustCache: Bool, rule: HashChain.Rule) throws -> (StoredEvent, JobState?) {
        let e = p.event
        if let key = try checkIdempotencyKey(e), let stored = try storedEvent(idempotencyKey: key, db: db) { return (stored, nil) }
        var state: JobState?
        var speculative = false
        if let batchState {
            state = batchState
        } else if trustCache, let cached = writer.state.withLock({ $0.cache[e.job] }) {
            state = cached
        } else if case .queued = e.payload, (e.expectedVersion ?? 0) == 0 {
            speculative = true
        } else {
            state = try loadState(e.job, db: db, trustCache: trustCache)
        }
        var stored = try stage(p, state: &state, after: head, rule: rule)
        let insert = try insertStatement(db)
        do {
            try Ledger.insertEvent(stored, payload: p.text, with: insert, db: db)
        } catch let error as DatabaseError where speculative && error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            // The job exists after all: validate against its state (the failed INSERT changed nothing).
            state = try loadState(e.job, db: db, trustCache: false)
            stored = try stage(p, state: &state, after: head, rule: rule)
            try Ledger.insertEvent(stored, payload: p.text, with: insert, db: db)
        }
        head = ChainHead(seq: stored.seq, hash: stored.hash)
        return (stored, state)
    }

    /// The event's idempotency key, after checking its length.
    private func checkIdempotencyKey(_ e: NewEvent) throws -> String? {
        guard let key = e.idempotencyKey else { return nil }
        guard (1...256).contains(key.utf8.count) else {
            throw LedgerError.invalidPayload(PayloadError(type: nil, reason: "an idempotency key must be 1…256 bytes long"))
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
        do {
            // `step` checks every rule before it changes anything, so a refusal leaves `state` intact.
            if state == nil { state = try Lifecycle.begin(job: e.job, with: e.payload, at: at) } else { try state!.apply(e.payload, at: at) }
        } catch { throw LedgerError.rejected(error) }
        let seq = head.seq + 1, newVersion = state!.version
        let hash = Digest.eventHash(rule: rule, prevHash: head.hash, seq: seq, job: e.job, version: newVersion,
                                    type: e.payload.type, recordedAt: at, payloadDigest: p.digest, idempotencyKey: e.idempotencyKey)
        return StoredEvent(seq: seq, job: e.job, version: newVersion, payload: e.payload, recordedAt: at,
                           idempotencyKey: e.idempotencyKey, payloadDigest: p.digest, prevHash: head.hash, hash: hash)
    }

    private func insertStatement(_ db: Database) throws -> Statement {
        try db.cachedStatement(sql: """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, idempotency_key, payload_digest, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
    }

    /// The job's state for validation: the cached one when no other connection has committed
    /// since (`trustCache`) or when it is still at the log's version; otherwise folded from the
    /// log (only the events after the cached version).
    private func loadState(_ job: JobID, db: Database, trustCache: Bool) throws -> JobState? {
        if trustCache, let cached = writer.state.withLock({ $0.cache[job] }) { return cached }
        let version = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(version) FROM events WHERE job_id = ?"), arguments: [job.rawValue])
        guard let version else { return nil }
        let cached = writer.state.withLock { $0.cache[job] }
        if let cached, cached.version == version { return cached }
        return try Ledger.foldJob(db, job: job, from: (cached?.version ?? 0) < version ? cached : nil)
    }
}

extension Ledger {
    /// The connection's data version of the main database (`SQLITE_FCNTL_DATA_VERSION`): it
    /// changes with every commit to the file, this connection's own included. Nil when the file
    /// control is not supported, so that nothing is ever trusted on its word.
    static func fileDataVersion(_ db: Database) -> UInt32? {
        var version: UInt32 = 0
        guard sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_DATA_VERSION, &version) == SQLITE_OK else { return nil }
        return version
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
