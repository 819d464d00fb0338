import Foundation
import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// Reading the log: its head, its events in order (all, from a seq, one job's, paged, as an
/// async sequence), and job states folded from them.
extension Ledger {
    /// The last event's `SEQ:HASH`, or nil for an empty log. Store it somewhere else and pass
    /// it to `verify(expectHead:progress:)` later to prove nothing was cut off the end.
    ///
    /// ```swift
    /// if let head = try ledger.head() { print(head) }   // 50:d4b5823a…
    /// ```
    public func head() throws(LedgerError) -> ChainHead? {
        try read { db in try Ledger.fetchHead(db) }
    }

    package static func fetchHead(_ db: Database) throws -> ChainHead? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")) else { return nil }
        return ChainHead(seq: row[0], hash: row[1])
    }

    /// Number of events in the log.
    public func eventCount() throws(LedgerError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    /// Calls `body` with every stored row from `seq` on, in order, from one consistent snapshot,
    /// in constant memory. The rows are as stored (payload as text, hash columns included):
    /// what an auditor or an exporter reads. `forEachEvent(from:_:)` decodes them.
    public func forEachRawEvent(from seq: Int64 = 1, _ body: (RawEvent) throws -> Void) throws(LedgerError) {
        try scanRaw(from: seq) { raw in try body(raw); return true }
    }

    /// Like `forEachRawEvent`, stopping early when `body` returns false.
    func scanRaw(from seq: Int64 = 1, _ body: (RawEvent) throws -> Bool) throws(LedgerError) {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq", arguments: [seq])
            while let row = try cursor.next() { if try !body(RawEvent(row: row)) { return } }
        }
    }

    /// Calls `body` with every event from `seq` on, decoded, in order, in constant memory.
    /// Everything is read in one snapshot: events appended meanwhile are not seen.
    ///
    /// ```swift
    /// var completed = 0
    /// try ledger.forEachEvent { e in if e.type == .completed { completed += 1 } }
    /// ```
    public func forEachEvent(from seq: Int64 = 1, _ body: (StoredEvent) throws -> Void) throws(LedgerError) {
        try forEachRawEvent(from: seq) { raw in try body(try raw.decoded()) }
    }

    /// Calls `body` with one job's events in version order, in constant memory: a job's
    /// history, as `jobledger history` prints it.
    ///
    /// ```swift
    /// try ledger.forEachEvent(of: job) { e in
    ///     print("v\(e.version) seq \(e.seq) \(e.recordedAt.iso8601) \(e.type)")
    /// }
    /// ```
    public func forEachEvent(of job: JobID, _ body: (StoredEvent) throws -> Void) throws(LedgerError) {
        try scanEvents(of: job) { e in try body(e); return true }
    }

    /// Like `forEachEvent(of:_:)` from the version after `afterVersion` on, stopping once `body`
    /// returns false: a page of a long history reads the job's events up to the page's end, and
    /// one that resumes a fold already made reads from where it got to.
    package func scanEvents(of job: JobID, afterVersion: Int = 0, _ body: (StoredEvent) throws -> Bool) throws(LedgerError) {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? AND version > ? ORDER BY version",
                                             arguments: [job.rawValue, afterVersion])
            while let row = try cursor.next() { if try !body(try RawEvent(row: row).decoded()) { return } }
        }
    }

    /// The log from `seq` on as an async sequence, read on demand in pages of `pageSize`
    /// events, each page its own short read: constant memory, and a slow consumer never holds
    /// a snapshot open. The sequence ends at the head as it is when the last page is read; it
    /// does not wait for new events.
    ///
    /// ```swift
    /// for try await e in ledger.events(from: lastSeen + 1) { try await forward(e) }
    /// ```
    public func events(from seq: Int64 = 1, pageSize: Int = 512) -> LedgerEvents {
        LedgerEvents(ledger: self, from: seq, pageSize: max(1, pageSize))
    }

    /// One page of the log: up to `limit` events from `seq` on, in order.
    public func page(from seq: Int64, limit: Int) throws(LedgerError) -> [StoredEvent] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map { try RawEvent(row: $0).decoded() }
        }
    }

    /// `page(from:limit:)` for async code: read on a reader's own queue (`asyncRead`), so the calling task
    /// suspends instead of blocking a thread of the cooperative pool.
    public func page(from seq: Int64, limit: Int) async throws(LedgerError) -> [StoredEvent] {
        do {
            return try await asyncRead { db in
                try Row.fetchAll(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                    .map { try RawEvent(row: $0).decoded() }
            }
        } catch { throw map(error) }
    }

    /// `state(of:)` for async code (`asyncRead`: the task suspends, no thread waits).
    public func state(of job: JobID) async throws(LedgerError) -> JobState? {
        do {
            return try await asyncRead { db in try Ledger.foldJob(db, job: job, from: nil) }
        } catch { throw map(error) }
    }

    /// The job's current state folded from its events, or nil when it does not exist. From
    /// async code the async overload is chosen (`try await ledger.state(of: job)`).
    ///
    /// ```swift
    /// func describe(_ job: JobID, in ledger: Ledger) throws {
    ///     if let s = try ledger.state(of: job) {
    ///         print(s.status, s.attempt, s.progress, s.lastError as Any)
    ///     }
    /// }
    /// ```
    public func state(of job: JobID) throws(LedgerError) -> JobState? {
        try read { db in try Ledger.foldJob(db, job: job, from: nil) }
    }

    /// Several jobs' current states, in one read; a job that does not exist is left out. What
    /// the engine reads the jobs it claims with (its view keeps queued jobs without their state).
    package func states(of jobs: [JobID]) async throws(LedgerError) -> [JobID: JobState] {
        do { return try await asyncRead { db in try Ledger.states(db, of: jobs) } } catch { throw map(error) }
    }

    /// `states(of:)` read on the caller's thread, without the hop to a reader queue and back
    /// (two thread wake-ups): the engine's claim round reads the few jobs it is about to claim
    /// this way. In WAL mode a read never waits for the writer.
    package func statesNow(of jobs: [JobID]) throws(LedgerError) -> [JobID: JobState] {
        try read { db in try Ledger.states(db, of: jobs) }
    }

    /// The jobs' states folded from their events: one statement, its columns read straight
    /// from SQLite. The engine reads the jobs it is about to claim this way every claim round,
    /// and GRDB's general row decoding (a cursor and its column lookups per job) was most of
    /// that read's cost.
    static func states(_ db: Database, of jobs: [JobID]) throws -> [JobID: JobState] {
        let statement = try db.cachedStatement(sql: "SELECT type, payload, recorded_at, seq, version FROM events WHERE job_id = ? ORDER BY version")
        let s = statement.sqliteStatement
        defer { sqlite3_reset(s) }
        var out: [JobID: JobState] = [:]
        out.reserveCapacity(jobs.count)
        for job in jobs {
            let binding = DirectBinding(statement)
            binding.text(1, job.rawValue)
            var state: JobState?
            while true {
                let rc = sqlite3_step(s)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
                let payload: EventPayload
                do {
                    payload = try EventPayload.decode(type: EventType(name: columnText(s, 0)), text: columnText(s, 1), exactNumbers: false)
                } catch { throw LedgerError.invalidStoredEvent(seq: sqlite3_column_int64(s, 3), job: job.rawValue, error) }
                // As `foldJob`: a stored version that is not the next is a log changed behind its back.
                let expected = (state?.version ?? 0) + 1
                guard sqlite3_column_int64(s, 4) == Int64(expected) else {
                    throw VersionGap(job: job, stored: Int(truncatingIfNeeded: sqlite3_column_int64(s, 4)), expected: expected)
                }
                state = try Lifecycle.apply(payload, to: state, job: job, at: Timestamp(milliseconds: sqlite3_column_int64(s, 2)))
            }
            if let state { out[job] = state }
        }
        return out
    }

    /// A TEXT column of the row the statement stands on.
    static func columnText(_ statement: OpaquePointer, _ i: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, i) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, i))), as: UTF8.self)
    }

    /// Folds one job from the database, starting from `base` (events after its version).
    package static func foldJob(_ db: Database, job: JobID, from base: JobState?, through last: Int = .max) throws -> JobState? {
        var state = base
        let cursor = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? AND version > ? AND version <= ? ORDER BY version"),
            arguments: [job.rawValue, base?.version ?? 0, last])
        while let row = try cursor.next() {
            let e = try RawEvent(row: row).decoded()
            // The fold counts versions itself: a stored one that is not the next (an event put in
            // behind the log's back) was folded as if it were, and an append then wrote version
            // 2 after a stored 5.
            let expected = (state?.version ?? 0) + 1
            guard e.version == expected else { throw VersionGap(job: job, stored: e.version, expected: expected) }
            state = try Lifecycle.apply(e.payload, to: state, job: job, at: e.recordedAt)
        }
        return state
    }

    /// Every job's current state, folded from the whole log in one pass. Holds every job in
    /// memory; for large logs read the `jobs` table instead (`currentJobRows(state:)` in
    /// JobLedgerProjections), or fold with `forEachEvent(from:_:)` and keep what you need.
    public func jobStates() throws(LedgerError) -> [JobID: JobState] {
        var fold = LedgerFold()
        var states: [JobID: JobState] = [:]
        try forEachEvent { e in states[e.job] = try fold.apply(e) }
        return states
    }
}

extension LedgerFold {
    /// Folds one stored event into the jobs' states and returns the job's new state; throws
    /// when the event is not legal for its job (a log that `verify()` would refuse).
    @discardableResult
    public mutating func apply(_ e: StoredEvent) throws(LifecycleError) -> JobState {
        try apply(job: e.job, payload: e.payload, at: e.recordedAt, seq: e.seq)
    }
}

/// The log as an async sequence of events, fetched page by page as the consumer asks. Made by
/// `Ledger.events(from:pageSize:)`.
public struct LedgerEvents: AsyncSequence, Sendable {
    /// Each element is one event, decoded.
    public typealias Element = StoredEvent
    let ledger: Ledger
    let from: Int64
    let pageSize: Int

    /// Reads the next page when the current one is used up.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let ledger: Ledger
        let pageSize: Int
        var nextSeq: Int64
        var buffer: [StoredEvent] = []
        var index = 0
        var finished = false

        /// The next event, or nil at the end of the log (or when the task is cancelled).
        public mutating func next() async throws -> StoredEvent? {
            if index == buffer.count {
                if finished || Task.isCancelled { return nil }
                buffer = try await ledger.page(from: nextSeq, limit: pageSize)
                index = 0
                guard let last = buffer.last else { finished = true; return nil }
                // A row at `Int64.max` (put in by hand: writers refuse such a log) ends the log.
                if last.seq == .max { finished = true } else { nextSeq = last.seq + 1 }
                if buffer.count < pageSize { finished = true }
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    /// An iterator from the sequence's first `seq`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(ledger: ledger, pageSize: pageSize, nextSeq: from)
    }
}

/// A job's stored event whose version is not its previous one + 1: a log changed behind its back.
struct VersionGap: Error, CustomStringConvertible {
    let job: JobID
    let stored: Int
    let expected: Int
    var description: String { "job \(job): an event at version \(stored) where version \(expected) comes next" }
}
