import GRDB
import GRDBSQLite
import JobLedger

/// One event as a job engine's view reads it: a job's first `queued` event with only what a claim
/// index needs (its payload's input stays in the log), any other event decoded in full. An engine
/// starting on a backlog of a million queued jobs reads a million of the first kind, and the
/// kind, priority and run-at of each are read from its payload's text in place
/// (`QueuedPayloadScan`) instead of decoding it into Swift values.
package enum EngineEvent: Sendable {
    /// A `queued` event at version 1: the start of a job.
    case queued(seq: Int64, job: JobID, kind: String, priority: Int, runAt: Timestamp?, recordedAt: Timestamp)
    /// Any other event.
    case event(StoredEvent)

    /// The event's place in the log.
    package var seq: Int64 {
        switch self {
        case .queued(let seq, _, _, _, _, _): seq
        case .event(let e): e.seq
        }
    }
}

extension Ledger {
    /// Up to `limit` events from `seq` on, in order, as an engine's view reads them (see
    /// `EngineEvent`); one short read, like `page(from:limit:)`.
    package func enginePage(from seq: Int64, limit: Int) async throws(LedgerError) -> [EngineEvent] {
        do {
            return try await asyncRead { db in try Ledger.enginePage(db, from: seq, limit: limit) }
        } catch let e as LedgerError {
            throw e
        } catch { throw map(error) }
    }

    /// `enginePage(from:limit:)` read on the caller's thread, without the hop to a reader queue
    /// and back: what an engine's round reads the log's new events with (usually few or none;
    /// a long backlog's further pages are read ahead on reader queues).
    package func enginePageNow(from seq: Int64, limit: Int) throws(LedgerError) -> [EngineEvent] {
        try read { db in try Ledger.enginePage(db, from: seq, limit: limit) }
    }

    static func enginePage(_ db: Database, from seq: Int64, limit: Int) throws -> [EngineEvent] {
        // A job's first event gives its id, time and payload text (three of its fields
        // are read from it in place, its input is skipped); any other event all its
        // columns (the hashes are left out of the first kind).
        let first = "type = 'queued' AND version = 1"
        let other = { (column: String) in "CASE WHEN \(first) THEN NULL ELSE \(column) END" }
        let statement = try db.cachedStatement(sql: """
            SELECT seq, job_id, version, type, payload, recorded_at, idempotency_key,
                   \(other("payload_digest")), \(other("prev_hash")), \(other("hash"))
            FROM events WHERE seq >= ? ORDER BY seq LIMIT ?
            """)
        let cursor = try Row.fetchCursor(statement, arguments: [seq, limit])
        // A queued row's few columns are read straight from SQLite (the statement stands on
        // the row the cursor returned): a backlog of a million takes a million of them, and
        // GRDB's general column decoding was most of an engine's start.
        let s = statement.sqliteStatement
        var out: [EngineEvent] = []
        out.reserveCapacity(limit)
        while let row = try cursor.next() {
            // The hash is NULL only for a job's first event (it is NOT NULL in the table).
            guard sqlite3_column_type(s, 9) == SQLITE_NULL else {
                out.append(.event(try RawEvent(row: row).decoded()))
                continue
            }
            let fields = sqlite3_column_text(s, 4).flatMap { bytes in
                QueuedPayloadScan(UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(s, 4))))
            }
            guard let fields else {
                // Not in the form jobledger writes (a hand-edited payload): read whole, so
                // that decoding accepts it or says what is wrong with it.
                let whole = try Row.fetchOne(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq = ?",
                                             arguments: [sqlite3_column_int64(s, 0)])
                if let whole { out.append(.event(try RawEvent(row: whole).decoded())) }
                continue
            }
            let job: JobID
            do { job = try JobID(Self.text(s, 1)) } catch { throw LedgerError.invalidJobID(error) }
            out.append(.queued(seq: sqlite3_column_int64(s, 0), job: job, kind: fields.kind, priority: fields.priority,
                               runAt: fields.runAt, recordedAt: Timestamp(milliseconds: sqlite3_column_int64(s, 5))))
        }
        return out
    }

    /// The text in column `i` of the row `statement` stands on.
    private static func text(_ statement: OpaquePointer, _ i: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, i) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, i))), as: UTF8.self)
    }
}
