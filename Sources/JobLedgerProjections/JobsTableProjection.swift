import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// The `jobs` table: every job's current row, queryable with SQL (`jobledger jobs`), written
/// with its checkpoint in one transaction. The built-in state projection; every
/// `ProjectionRunner` made with `init(ledger:clock:blobs:broadcasts:extra:options:)` keeps it.
/// `Docs/EventLog.md` § Projection tables lists its columns.
public struct JobsTableProjection: StateProjection {
    /// `jobs`.
    public let name = ProjectionName.jobs

    /// The projection (it has no settings).
    public init() {}

    /// Writes each job of the batch's row once, with its last state and the URLs its artefacts
    /// were published at.
    public func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {
        // Each job's row is written once per batch, with its last state and that event's seq.
        var lastSeq: [JobID: Int64] = [:]
        lastSeq.reserveCapacity(states.count)
        for e in events { lastSeq[e.job] = e.seq }
        for (job, state) in states { try Self.upsert(db, state: state, seq: lastSeq[job] ?? 0) }
    }

    /// Deletes every row (and recreates the table first, when it was dropped).
    public func reset(_ db: Database) throws {
        _ = try JobsTableSchema.restore(db)
        try db.execute(sql: "DELETE FROM jobs")
    }

    /// Recreates the `jobs` table (with its indexes) when it was dropped behind the log's back;
    /// true when it did, and the runner then rebuilds its rows from the log.
    public func restoreTables(_ db: Database) throws -> Bool {
        try JobsTableSchema.restore(db)
    }

    static func upsert(_ db: Database, state s: JobState, seq: Int64) throws {
        let paths = s.artefactPathnames
        let previewURL = try paths.preview.flatMap { try BlobProjection.url(db, pathname: $0.description) }
        let resultURL = try paths.result.flatMap { try BlobProjection.url(db, pathname: $0.description) }
        // Most events after the first (progress above all) change no column an index holds:
        // an UPDATE of the other columns rewrites the row alone, where INSERT OR REPLACE deletes
        // and re-inserts it in the table and in each of its five indexes. It matches only a row
        // whose indexed columns are already these; a new job, or a new state, takes the INSERT.
        if s.version > 1, try update(db, state: s, seq: seq, previewURL: previewURL, resultURL: resultURL) { return }
        let insert = DirectBinding(try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO jobs (id, kind, state, attempt, max_attempts, progress, message, preview_sha256, preview_url,
                                         result_sha256, result_url, error_code, error_message, created_at, started_at,
                                         finished_at, updated_at, version, seq, owner)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        bind(insert, state: s, seq: seq, previewURL: previewURL, resultURL: resultURL)
        try insert.run(db)
    }

    /// Updates the job's row in place when its indexed columns (`id`, `state`, `kind`,
    /// `created_at`, `owner`) already hold these values; false when no such row exists. Its
    /// parameters are numbered as the INSERT's columns, so one binding serves both.
    private static func update(_ db: Database, state s: JobState, seq: Int64, previewURL: String?, resultURL: String?) throws -> Bool {
        let update = DirectBinding(try db.cachedStatement(sql: """
            UPDATE jobs SET attempt = ?4, max_attempts = ?5, progress = ?6, message = ?7, preview_sha256 = ?8, preview_url = ?9,
                            result_sha256 = ?10, result_url = ?11, error_code = ?12, error_message = ?13, started_at = ?15,
                            finished_at = ?16, updated_at = ?17, version = ?18, seq = ?19
            WHERE id = ?1 AND kind = ?2 AND state = ?3 AND created_at = ?14 AND owner IS ?20
            """))
        bind(update, state: s, seq: seq, previewURL: previewURL, resultURL: resultURL)
        try update.run(db)
        return db.changesCount == 1
    }

    /// The row's twenty values, numbered in the `jobs` table's column order.
    private static func bind(_ b: DirectBinding, state s: JobState, seq: Int64, previewURL: String?, resultURL: String?) {
        b.text(1, s.id.rawValue)
        b.text(2, s.kind)
        b.text(3, s.status.rawValue)
        b.int(4, Int64(s.attempt))
        b.int(5, Int64(s.maxAttempts))
        b.double(6, s.progress)
        b.text(7, s.progressMessage)
        b.text(8, s.preview?.sha256)
        b.text(9, previewURL)
        b.text(10, s.result?.sha256)
        b.text(11, resultURL)
        b.text(12, s.lastError?.code)
        b.text(13, s.lastError?.message)
        b.int(14, s.createdAt.milliseconds)
        b.int(15, s.startedAt?.milliseconds)
        b.int(16, s.finishedAt?.milliseconds)
        b.int(17, s.updatedAt.milliseconds)
        b.int(18, Int64(s.version))
        b.int(19, seq)
        b.text(20, s.owner)
    }

    /// Whether the table has the `owner` column (schema v6): a log of an older schema opened
    /// read-only is read as it is, without it.
    static func hasOwnerColumn(_ db: Database) throws -> Bool {
        try db.columns(in: "jobs").contains { $0.name == "owner" }
    }

    static func fetchRows(_ db: Database, path: String, state: JobStatus? = nil) throws -> [JobRow] {
        var rows: [JobRow] = []
        try forEachRow(db, path: path, state: state) { rows.append($0) }
        return rows
    }

    /// The stored rows (of `state`, when given) one at a time, by a cursor, ordered by
    /// `created_at`, then id (compared as bytes): what `fetchRows` returns, in bounded memory.
    static func forEachRow(_ db: Database, path: String, state: JobStatus? = nil, _ body: (JobRow) throws -> Void) throws {
        try JobsTableSchema.requireTable(db, path: path)
        var sql = "SELECT id, kind, state, attempt, max_attempts, progress, message, preview_url, result_url, error_code, error_message, created_at, started_at, finished_at, updated_at, version, \(try hasOwnerColumn(db) ? "owner" : "NULL") FROM jobs"
        var args: StatementArguments = []
        if let state { sql += " WHERE state = ?"; args = [state.rawValue] }
        let rows = try Row.fetchCursor(db, sql: sql + " ORDER BY created_at, id", arguments: args)
        while let r = try rows.next() {
            guard let st = JobStatus(rawValue: r[2]) else { throw LedgerError.storage("the jobs table holds an unknown state") }
            func t(_ i: Int) -> Timestamp? { (r[i] as Int64?).map(Timestamp.init(milliseconds:)) }
            try body(JobRow(id: try JobID(r[0] as String), kind: r[1], state: st, attempt: r[3], maxAttempts: r[4], progress: r[5],
                            message: r[6], previewURL: r[7], resultURL: r[8], errorCode: r[9], errorMessage: r[10],
                            createdAt: t(11)!, startedAt: t(12), finishedAt: t(13), updatedAt: t(14)!, version: r[15], owner: r[16]))
        }
    }
}

extension Ledger {
    /// The stored `jobs` table, as rows, oldest first, optionally of one state. It may lag the
    /// log; `currentJobRows(state:)` folds in what it has not taken in yet.
    ///
    /// ```swift
    /// for row in try ledger.storedJobRows(state: .failed) { print(row.id, row.errorCode ?? "") }
    /// ```
    public func storedJobRows(state: JobStatus? = nil) throws(LedgerError) -> [JobRow] {
        guard hasProjections else { return [] }
        return try readSnapshot { db in try JobsTableProjection.fetchRows(db, path: path, state: state) }
    }

    /// The jobs projection's checkpoint and the log's head, read together: the table is
    /// current when they are equal.
    public func jobsTableCheckpoint() throws(LedgerError) -> (checkpoint: Int64, head: Int64) {
        try checkpoint(of: .jobs)
    }

    /// Empties the `jobs` table and sets its checkpoint back to 0, in one transaction: the next
    /// run of the projections rebuilds it from the log. (Effect projections are not reset: that
    /// would send every upload and broadcast again.) What `jobledger projections rebuild` runs
    /// before catching the table up:
    ///
    /// ```swift
    /// try await ledger.resetJobsTable()
    /// try await ProjectionRunner(ledger: ledger).catchUp()   // the jobs table only
    /// ```
    public func resetJobsTable() async throws(LedgerError) {
        try await resetProjection(.jobs) { db in try JobsTableProjection().reset(db) }
    }

    /// Empties a state projection's rows (its `reset`) and sets its checkpoint back to 0, in
    /// one transaction: the next run of the projections rebuilds it from the log. What
    /// `resetJobsTable()` is for the jobs table, for an app's own state projection (whose
    /// `reset` nothing public called: it could not be rebuilt but by hand).
    ///
    /// ```swift
    /// try await ledger.resetStateProjection(JobDurations())
    /// try await ProjectionRunner(ledger: ledger, state: [JobsTableProjection(), JobDurations()], effects: []).catchUp()
    /// ```
    public func resetStateProjection(_ projection: some StateProjection) async throws(LedgerError) {
        try await resetProjection(projection.name) { db in try projection.reset(db) }
    }

    /// The stored `jobs` table and the same table rebuilt from the log up to its checkpoint,
    /// read in one snapshot, so that a projection running meanwhile never shows up as drift.
    /// What `jobledger replay --check` compares; any difference is a bug.
    ///
    /// ```swift
    /// let check = try ledger.jobsTableCheck()
    /// for stored in check.stored {
    ///     guard let rebuilt = check.rebuilt[stored.id] else { print("\(stored.id): not in the log"); continue }
    ///     for d in stored.differences(from: rebuilt) { print("\(stored.id) \(d.field): \(d.mine) ≠ \(d.theirs)") }
    /// }
    /// ```
    ///
    /// `progress` is called every 4,096 events replayed.
    public func jobsTableCheck(progress: (Int) -> Void = { _ in })
        throws(LedgerError) -> (checkpoint: Int64, stored: [JobRow], rebuilt: [JobID: JobRow]) {
        guard hasProjections else { return (0, [], [:]) }
        return try readSnapshot { db in
            let checkpoint = try Ledger.checkpoint(db, .jobs)
            var fold = ReplayFold(receipts: [.blob: try BlobProjection.urls(db)])
            _ = try Ledger.replayEvents(db, until: .seq(checkpoint), job: nil, progress: progress) { e in
                _ = try fold.apply(e)
            }
            return (checkpoint, try JobsTableProjection.fetchRows(db, path: path), fold.rows)
        }
    }
}
