import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// A scratch SQLite database holding a replay's results: a `jobs` table shaped like the
/// log's, and an `effects` table with every upload and broadcast in order. For poking at
/// with the `sqlite3` shell; not a log.
public enum ReplayScratch {
    /// Writes `rows` and `effects` to a new SQLite file at `path` (refused when it exists).
    /// A replay with many effects is better written as it goes, with a `ReplayScratchWriter`
    /// (what `jobledger replay --into PATH` does), which holds no effect in memory.
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
        let writer = try ReplayScratchWriter(path: path)
        for e in effects { try writer.add(e) }
        try writer.finish(rows: rows)
    }
}

/// A replay's scratch file written as the replay goes: each effect is stored as it is planned
/// (in chunks, in one transaction), the jobs at the end, and the file takes its name only once
/// whole (`StagedFile`). Memory holds one chunk of effects, whatever the replay's length.
///
/// ```swift
/// let scratch = try ReplayScratchWriter(path: "as-of-40.sqlite")
/// var fold = ReplayFold(effects: [BroadcastProjection(sink: BroadcastHub())])
/// var failure: LedgerError?
/// _ = try ledger.replay(into: &fold, until: .seq(40), effect: { e in
///     do { try scratch.add(e) } catch { failure = failure ?? error }
/// })
/// if let failure { scratch.abandon(); throw failure }
/// try scratch.finish(rows: Array(fold.rows.values))
/// ```
public final class ReplayScratchWriter {
    /// The path the file takes once finished.
    public let path: String
    private let staging: String
    private let queue: DatabaseQueue
    private var pending: [PlannedEffect] = []
    private var finished = false
    /// How many effects are gathered before they are written.
    static let chunk = 4096
    static let why = "a replay scratch file is always a new file, and never replaces one"

    /// Makes the file under its staging name, with its tables, and begins its transaction.
    /// Refused (`LedgerError.storage`) when `path` exists already or cannot be written.
    public init(path: String) throws(LedgerError) {
        self.path = path
        staging = try StagedFile.begin(path, why: Self.why)
        do {
            // One transaction for the whole file, open across the chunks' accesses.
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: staging, configuration: configuration)
            try queue.inDatabase { db in
                try db.execute(sql: """
                    CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT, state TEXT, attempt INTEGER, max_attempts INTEGER,
                        progress REAL, message TEXT, preview_url TEXT, result_url TEXT, error_code TEXT, error_message TEXT,
                        created_at TEXT, started_at TEXT, finished_at TEXT, updated_at TEXT, version INTEGER, owner TEXT);
                    CREATE TABLE effects (seq INTEGER, kind TEXT, target TEXT, body TEXT);
                    BEGIN IMMEDIATE;
                    """)
            }
        } catch {
            unlink(staging)
            throw .storage("cannot write \(path): \(error); the unfinished file was removed")
        }
    }

    deinit { if !finished { abandon() } }

    /// Stores an effect (written with the next chunk).
    public func add(_ effect: PlannedEffect) throws(LedgerError) {
        pending.append(effect)
        if pending.count >= Self.chunk { try flush() }
    }

    /// Stores the jobs, commits, and gives the file its name.
    public func finish(rows: [JobRow]) throws(LedgerError) {
        try flush()
        try failing {
            try queue.inDatabase { db in
                for r in rows {
                    let values: [DatabaseValueConvertible?] = r.fields.map { f in
                        switch f.value {
                        case .string(let s): return s
                        case .int(let i): return i
                        case .double(let d): return d
                        default: return nil
                        }
                    }
                    let insert = try db.cachedStatement(sql: "INSERT INTO jobs VALUES (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))")
                    try insert.execute(arguments: StatementArguments(values))
                }
                try db.execute(sql: "COMMIT")
            }
            try queue.close()
        }
        finished = true
        try StagedFile.publish(staging, as: path, why: Self.why)
    }

    /// Gives the file up: rolls back, closes, and removes the staging file. What a replay that
    /// failed half-way calls; also done when the writer goes away unfinished.
    public func abandon() {
        guard !finished else { return }
        finished = true
        try? queue.inDatabase { db in if !db.isInsideTransaction { return }; try db.execute(sql: "ROLLBACK") }
        try? queue.close()
        unlink(staging); unlink(staging + "-journal")
    }

    private func flush() throws(LedgerError) {
        guard !pending.isEmpty else { return }
        let chunk = pending
        pending.removeAll(keepingCapacity: true)
        try failing {
            try queue.inDatabase { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO effects VALUES (?, ?, ?, ?)")
                for e in chunk {
                    try insert.execute(arguments: [e.seq, e.projection.effectLabel, e.draft.target, e.draft.body])
                }
            }
        }
    }

    /// Runs a write; one that fails abandons the file (nothing is left at its staging name).
    private func failing(_ body: () throws -> Void) throws(LedgerError) {
        do { try body() } catch {
            abandon()
            throw .storage("cannot write \(path): \(error); the unfinished file was removed")
        }
    }
}
