import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// A scratch SQLite database holding a replay's results: a `jobs` table shaped like the
/// log's, and an `effects` table with every upload and broadcast in order. For poking at
/// with the `sqlite3` shell; not a log.
public enum ReplayScratch {
    /// Writes `rows` and `effects` to a new SQLite file at `path` (refused when it exists):
    /// what `jobledger replay --into PATH` does.
    ///
    /// ```swift
    /// var fold = ReplayFold(effects: [BroadcastProjection(sink: BroadcastHub())])
    /// var planned: [PlannedEffect] = []
    /// _ = try ledger.replay(into: &fold, until: .seq(40), effect: { planned.append($0) })
    /// try ReplayScratch.write(rows: Array(fold.rows.values), effects: planned, to: "as-of-40.sqlite")
    /// ```
    ///
    /// The file is made beside `path` under another name (`StagedFile`) and given its name only
    /// once complete: a write that fails (a full disk, a folder that cannot take the journal) or
    /// a process killed meanwhile leaves nothing at `path`, so the same call can be made again,
    /// instead of being refused because the path "already exists" (what a failed write removes,
    /// a killed one may leave under the staging name).
    public static func write(rows: [JobRow], effects: [PlannedEffect], to path: String) throws(LedgerError) {
        let why = "a replay scratch file is always a new file, and never replaces one"
        let staging = try StagedFile.begin(path, why: why)
        do {
            try fill(staging, rows: rows, effects: effects)
        } catch {
            unlink(staging)  // SQLite removed its journal as it rolled back
            throw .storage("cannot write \(path): \(error); the unfinished file was removed")
        }
        try StagedFile.publish(staging, as: path, why: why)
    }

    private static func fill(_ path: String, rows: [JobRow], effects: [PlannedEffect]) throws {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        try q.write { db in
            try db.execute(sql: """
                CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT, state TEXT, attempt INTEGER, max_attempts INTEGER,
                    progress REAL, message TEXT, preview_url TEXT, result_url TEXT, error_code TEXT, error_message TEXT,
                    created_at TEXT, started_at TEXT, finished_at TEXT, updated_at TEXT, version INTEGER, owner TEXT);
                CREATE TABLE effects (seq INTEGER, kind TEXT, target TEXT, body TEXT);
                """)
            for r in rows {
                let values: [DatabaseValueConvertible?] = r.fields.map { f in
                    switch f.value {
                    case .string(let s): return s
                    case .int(let i): return i
                    case .double(let d): return d
                    default: return nil
                    }
                }
                try db.execute(sql: "INSERT INTO jobs VALUES (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))",
                               arguments: StatementArguments(values))
            }
            for e in effects {
                try db.execute(sql: "INSERT INTO effects VALUES (?, ?, ?, ?)",
                               arguments: [e.seq, e.projection.effectLabel, e.draft.target, e.draft.body])
            }
        }
    }
}
