import Foundation
import GRDB
import JobLedger

/// Where a replay stops.
public enum ReplayPoint: Sendable, Hashable, CustomStringConvertible {
    /// The whole log.
    case end
    /// Up to and including this `seq`.
    case seq(Int64)
    /// Up to the last event recorded at or before this time (the log's prefix: a replay
    /// stops at the first event recorded later).
    case time(Timestamp)

    /// Parses a `seq` (a whole number) or a time (ISO-8601 UTC).
    public init?(_ text: String) {
        if let n = Int64(text), n >= 0 { self = .seq(n); return }
        if let t = Timestamp(parsing: text), text.contains("T") || text.contains("-") { self = .time(t); return }
        return nil
    }

    public var description: String {
        switch self {
        case .end: "the end of the log"
        case .seq(let s): "seq \(s)"
        case .time(let t): t.iso8601
        }
    }

    func includes(seq: Int64, at time: Timestamp) -> Bool {
        switch self {
        case .end: true
        case .seq(let s): seq <= s
        case .time(let t): time <= t
        }
    }
}

/// What a replay went through.
public struct ReplaySummary: Sendable, Hashable {
    public var events = 0
    public var lastSeq: Int64 = 0
    public var lastTime: Timestamp?
}

extension Ledger {
    /// Replays the log (or one job's events) into `fold` up to `point`, in one snapshot and
    /// constant memory beyond the fold, calling `effect` with every effect in order and
    /// `progress` every 65,536 events with the events so far.
    public func replay(into fold: inout ReplayFold, until point: ReplayPoint = .end, job: JobID? = nil,
                       progress: (Int) -> Void = { _ in }, effect: (PlannedEffect) -> Void = { _ in }) throws(LedgerError) -> ReplaySummary {
        try read { db in try Ledger.replay(db, into: &fold, until: point, job: job, progress: progress, effect: effect) }
    }

    static func replay(_ db: Database, into fold: inout ReplayFold, until point: ReplayPoint, job: JobID?,
                       progress: (Int) -> Void, effect: (PlannedEffect) -> Void) throws -> ReplaySummary {
        var summary = ReplaySummary()
        let cursor: RowCursor
        if let job {
            cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? ORDER BY version", arguments: [job.rawValue])
        } else {
            cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events ORDER BY seq")
        }
        while let row = try cursor.next() {
            let e = try RawEvent(row: row).decoded()
            guard point.includes(seq: e.seq, at: e.recordedAt) else { break }
            let out = try fold.apply(seq: e.seq, job: e.job, payload: e.payload, at: e.recordedAt)
            for x in out.effects { effect(x) }
            summary.events += 1
            summary.lastSeq = e.seq
            summary.lastTime = e.recordedAt
            if summary.events & 0xFFFF == 0 { progress(summary.events) }
        }
        return summary
    }

    /// The stored `jobs` table and the same table rebuilt from the log up to its checkpoint,
    /// read in one snapshot, so that a projection running meanwhile never shows up as drift.
    public func jobsTableCheck(streams: StreamNaming = StreamNaming(), progress: (Int) -> Void = { _ in })
        throws(LedgerError) -> (checkpoint: Int64, stored: [JobRow], rebuilt: [JobID: JobRow]) {
        guard hasProjections else { return (0, [], [:]) }
        return try read { db in
            let checkpoint = try Ledger.checkpoint(db, .jobs)
            var fold = ReplayFold(streams: streams, urls: try Ledger.fetchBlobURLs(db))
            _ = try Ledger.replay(db, into: &fold, until: .seq(checkpoint), job: nil, progress: progress, effect: { _ in })
            return (checkpoint, try Ledger.fetchJobRows(db), fold.rows)
        }
    }

    /// The event at `seq`'s time, to turn a `seq` into the moment it was recorded.
    public func recordedAt(seq: Int64) throws(LedgerError) -> Timestamp? {
        try read { db in try Int64.fetchOne(db, sql: "SELECT recorded_at FROM events WHERE seq = ?", arguments: [seq]).map(Timestamp.init(milliseconds:)) }
    }
}

/// A scratch SQLite database holding a replay's results: a `jobs` table shaped like the
/// log's, and an `effects` table with every upload and broadcast in order. For poking at
/// with the `sqlite3` shell; not a log.
public enum ReplayScratch {
    public static func write(rows: [JobRow], effects: [PlannedEffect], to path: String) throws(LedgerError) {
        do {
            if FileManager.default.fileExists(atPath: path) {
                throw LedgerError.storage("\(path) already exists; --into writes a new file and never overwrites")
            }
            let q = try DatabaseQueue(path: path)
            try q.write { db in
                try db.execute(sql: """
                    CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT, state TEXT, attempt INTEGER, max_attempts INTEGER,
                        progress REAL, message TEXT, preview_url TEXT, result_url TEXT, error_code TEXT, error_message TEXT,
                        created_at TEXT, started_at TEXT, finished_at TEXT, updated_at TEXT, version INTEGER);
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
                    switch e {
                    case .upload(let seq, let p):
                        try db.execute(sql: "INSERT INTO effects VALUES (?, 'upload', ?, ?)", arguments: [seq, p.description, p.asset.jsonText])
                    case .broadcast(let seq, let pub):
                        try db.execute(sql: "INSERT INTO effects VALUES (?, 'broadcast', ?, ?)", arguments: [seq, pub.stream, pub.message.text])
                    }
                }
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .storage("cannot write \(path): \(error)")
        }
    }
}
