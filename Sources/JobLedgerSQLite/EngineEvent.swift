import GRDB
import JobLedger

/// One event as a job engine's view reads it: a job's first `queued` event with only what a claim
/// index needs (its payload's input stays in the log), any other event decoded in full. An engine
/// starting on a backlog of a million queued jobs reads a million of the first kind, and the
/// payload of each is parsed by SQLite's `json_extract` instead of being decoded into Swift values.
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
            return try await pool.read { db in
                let first = "CASE WHEN type = 'queued' AND version = 1 THEN json_extract(payload, "
                let cursor = try Row.fetchCursor(db.cachedStatement(sql: """
                    SELECT \(RawEvent.columns), \(first)'$.kind') END, \(first)'$.priority') END, \(first)'$.run_at') END
                    FROM events WHERE seq >= ? ORDER BY seq LIMIT ?
                    """), arguments: [seq, limit])
                var out: [EngineEvent] = []
                out.reserveCapacity(limit)
                while let row = try cursor.next() {
                    if let kind: String = row[10] {
                        let id: String = row[1]
                        let job: JobID
                        do { job = try JobID(id) } catch let e as InvalidJobID { throw LedgerError.invalidJobID(e) }
                        let runAt: String? = row[12]
                        out.append(.queued(seq: row[0], job: job, kind: kind, priority: row[11] ?? 0,
                                           runAt: runAt.flatMap { Timestamp(iso8601: $0) }, recordedAt: Timestamp(milliseconds: row[5])))
                    } else {
                        out.append(.event(try RawEvent(row: row).decoded()))
                    }
                }
                return out
            }
        } catch let e as LedgerError {
            throw e
        } catch { throw map(error) }
    }
}
