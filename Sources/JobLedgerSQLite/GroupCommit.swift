import Foundation
import GRDB
import JobLedger
import Synchronization

/// Gathers concurrent appends into one transaction. The first caller to find the writer idle
/// becomes the leader: it commits everything queued so far in one transaction, resumes every
/// caller in that batch, and repeats while more is queued. No caller returns before its events
/// are committed.
final class GroupCommitter: Sendable {
    struct Request {
        let events: [NewEvent]
        let continuation: CheckedContinuation<[StoredEvent], any Error>
    }

    struct State {
        var pending: [Request] = []
        var leaderActive = false
        /// States of jobs recently appended by this process, checked against the log's version
        /// before use, so another process's appends are never missed.
        var cache: [JobID: JobState] = [:]
        /// Transactions committed by this ledger's appends (for tests and benchmarks).
        var transactions = 0
    }

    let state = Mutex(State())
    /// Largest batch handed to one transaction.
    let maxBatch = 1024
    /// Batches a leader commits before handing leadership to a fresh task, so the leader's
    /// own caller is not held back indefinitely under sustained load.
    let maxRoundsPerLeader = 4
    static let cacheLimit = 50_000
}

extension Ledger {
    /// How many append transactions this ledger has committed; fewer than the appends made
    /// when group commit gathered concurrent callers.
    public var appendTransactions: Int { writer.state.withLock { $0.transactions } }

    /// Appends waiting for the current leader's transaction.
    var pendingAppends: Int { writer.state.withLock { $0.pending.count } }

    /// Appends one event and returns it as stored (or, for a repeated idempotency key, the event
    /// first stored with that key). Returns only after the event is committed.
    public func append(_ event: NewEvent) async throws(LedgerError) -> StoredEvent {
        try await append([event])[0]
    }

    /// Appends events atomically: all are committed together, or none (the error says why).
    public func append(_ events: [NewEvent]) async throws(LedgerError) -> [StoredEvent] {
        if events.isEmpty { return [] }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let isLeader = writer.state.withLock { s in
                    s.pending.append(.init(events: events, continuation: continuation))
                    if s.leaderActive { return false }
                    s.leaderActive = true
                    return true
                }
                if isLeader { lead(rounds: writer.maxRoundsPerLeader) }
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw map(error)
        }
    }

    /// Commits queued batches until the queue is empty or `rounds` run out; then hands over.
    private func lead(rounds: Int) {
        for _ in 0..<rounds {
            let batch: [GroupCommitter.Request] = writer.state.withLock { s in
                if s.pending.isEmpty { s.leaderActive = false; return [] }
                let n = min(s.pending.count, writer.maxBatch)
                let b = Array(s.pending.prefix(n))
                s.pending.removeFirst(n)
                return b
            }
            if batch.isEmpty { return }
            commit(batch)
        }
        let more = writer.state.withLock { s in
            if s.pending.isEmpty { s.leaderActive = false; return false }
            return true
        }
        if more { Task.detached { self.lead(rounds: self.writer.maxRoundsPerLeader) } }
    }

    private func commit(_ batch: [GroupCommitter.Request]) {
        var results: [Result<[StoredEvent], LedgerError>] = []
        var touched: [JobID: JobState?] = [:]
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    results.removeAll(keepingCapacity: true)
                    touched.removeAll(keepingCapacity: true)
                    var head = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
                    for request in batch {
                        do {
                            let stored = try appendRequest(request.events, db: db, head: &head, touched: &touched)
                            results.append(.success(stored))
                        } catch let e as LedgerError {
                            results.append(.failure(e))
                        }
                    }
                    return .commit
                }
            }
        } catch {
            let e = map(error)
            for r in batch { r.continuation.resume(throwing: e) }
            return
        }
        writer.state.withLock { s in
            s.transactions += 1
            if s.cache.count > GroupCommitter.cacheLimit { s.cache.removeAll(keepingCapacity: true) }
            for (job, st) in touched {
                if let st, !st.status.isTerminal { s.cache[job] = st } else { s.cache[job] = nil }
            }
        }
        for (r, result) in zip(batch, results) { r.continuation.resume(with: result) }
    }

    /// Validates one request completely in memory, then inserts it. A request that fails
    /// validation writes nothing; the others in the transaction are unaffected.
    func appendRequest(_ events: [NewEvent], db: Database, head: inout ChainHead,
                               touched: inout [JobID: JobState?]) throws -> [StoredEvent] {
        var localHead = head
        var localStates: [JobID: JobState?] = [:]
        var localKeys: [String: StoredEvent] = [:]
        var out: [StoredEvent] = []
        var inserts: [StoredEvent] = []
        var texts: [String] = []
        for e in events {
            if let key = e.idempotencyKey {
                guard (1...256).contains(key.utf8.count) else {
                    throw LedgerError.invalidPayload(PayloadError(type: nil, reason: "an idempotency key must be 1…256 bytes long"))
                }
                if let earlier = localKeys[key] { out.append(earlier); continue }
                if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(RawEvent.columns) FROM events WHERE idempotency_key = ?"), arguments: [key]) {
                    out.append(try RawEvent(row: row).decoded())
                    continue
                }
            }
            let text = e.payload.canonicalText
            let size = text.utf8.count
            guard size <= configuration.maxPayloadBytes else {
                throw LedgerError.payloadTooLarge(job: e.job, size: size, limit: configuration.maxPayloadBytes)
            }
            let current: JobState?
            if let s = localStates[e.job] { current = s } else if let s = touched[e.job] { current = s } else { current = try loadState(e.job, db: db) }
            let version = current?.version ?? 0
            if let expected = e.expectedVersion, expected != version {
                throw LedgerError.concurrencyConflict(job: e.job, expected: expected, actual: version)
            }
            let at = e.recordedAt ?? configuration.clock()
            let next: JobState
            do { next = try Lifecycle.apply(e.payload, to: current, job: e.job, at: at).0 } catch { throw LedgerError.rejected(error) }
            let seq = localHead.seq + 1
            let digest = Digest.sha256Hex(text)
            let canonical = HashChain.canonical(seq: seq, job: e.job, version: next.version, type: e.payload.type, recordedAt: at, payloadDigest: digest)
            let hash = Digest.chain(prevHash: localHead.hash, canonical: canonical)
            let stored = StoredEvent(seq: seq, job: e.job, version: next.version, payload: e.payload, recordedAt: at,
                                     idempotencyKey: e.idempotencyKey, payloadDigest: digest, prevHash: localHead.hash, hash: hash)
            localHead = ChainHead(seq: seq, hash: hash)
            localStates[e.job] = .some(next)
            if let key = e.idempotencyKey { localKeys[key] = stored }
            out.append(stored)
            inserts.append(stored)
            texts.append(text)
        }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, idempotency_key, payload_digest, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (s, text) in zip(inserts, texts) {
            try insert.execute(arguments: [s.seq, s.job.rawValue, s.version, s.type.rawValue, text, s.recordedAt.milliseconds,
                                           s.idempotencyKey, s.payloadDigest, s.prevHash, s.hash])
        }
        head = localHead
        for (job, st) in localStates { touched[job] = st }
        return out
    }

    /// The job's state for validation: the cached one when it is still at the log's version,
    /// otherwise folded from the log (only the events after the cached version).
    private func loadState(_ job: JobID, db: Database) throws -> JobState? {
        let version = try Int.fetchOne(db.cachedStatement(sql: "SELECT max(version) FROM events WHERE job_id = ?"), arguments: [job.rawValue])
        guard let version else { return nil }
        let cached = writer.state.withLock { $0.cache[job] }
        if let cached, cached.version == version { return cached }
        return try Ledger.foldJob(db, job: job, from: (cached?.version ?? 0) < version ? cached : nil)
    }
}
