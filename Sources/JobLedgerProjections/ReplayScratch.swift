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
    /// The file is made beside `path` under another name (`stagingPath(for:)`) and given its
    /// name only once complete: a write that fails (a full disk, a folder that cannot take the
    /// journal) or a process killed meanwhile leaves nothing at `path`, so the same call can be
    /// made again, instead of being refused because the path "already exists" (what a failed
    /// write removes, a killed one may leave under the staging name).
    public static func write(rows: [JobRow], effects: [PlannedEffect], to path: String) throws(LedgerError) {
        if FileManager.default.fileExists(atPath: path) {
            throw LedgerError.storage("\(path) already exists; a replay scratch file is always a new file, and never replaces one")
        }
        let staging = stagingPath(for: path)
        // Made here, exclusively: a file another process makes meanwhile is refused, not
        // written into, and a file this call made is the only one it may remove.
        unlink(staging); unlink(staging + "-journal")  // a killed run's, with this process's id
        let fd = open(staging, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw .storage("cannot write \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            try fill(staging, rows: rows, effects: effects)
        } catch {
            unlink(staging)  // SQLite removed its journal as it rolled back
            throw .storage("cannot write \(path): \(error); the unfinished file was removed")
        }
        // The name is given by a hard link, which, unlike a rename, never replaces a file that
        // appeared at `path` meanwhile.
        let linked = link(staging, path) == 0 ? 0 : errno
        unlink(staging)
        if linked == EEXIST {
            throw .storage("\(path) already exists; a replay scratch file is always a new file, and never replaces one")
        }
        if linked != 0 { throw .storage("cannot write \(path): \(String(cString: strerror(linked)))") }
    }

    /// Where `write(rows:effects:to:)` makes the file before it has its name: beside it, hidden,
    /// named after this process.
    public static func stagingPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
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
