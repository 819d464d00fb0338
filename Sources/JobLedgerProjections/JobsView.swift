import GRDB
import JobLedger
import JobLedgerSQLite

extension Ledger {
    /// Every job's row as the `jobs` table holds it once brought up to the log's head, without
    /// writing: the stored rows, with the jobs that events after the table's checkpoint touched
    /// folded in memory from the log (the same fold and the same URL lookup as the projection).
    /// On a log without the table (schema v1, v2) every job is folded. Read in one snapshot, so
    /// it works on a read-only ledger and equals what `ProjectionRunner.catchUp` followed by
    /// `storedJobRows` would show. Sorted as `storedJobRows` sorts: by `created_at`, then id.
    /// What `jobledger jobs` prints. With a `state`, only the stored rows in that state are read
    /// (and the jobs the later events touched): the cost is theirs, not the table's.
    ///
    /// ```swift
    /// for row in try ledger.currentJobRows(state: .running) {
    ///     print(row.id, row.kind, "\(Int(row.progress * 100))%", row.message ?? "")
    /// }
    /// ```
    public func currentJobRows(state filter: JobStatus? = nil) throws(LedgerError) -> [JobRow] {
        var rows: [JobRow] = []
        try forEachCurrentJobRow(state: filter) { _, row in rows.append(row) }
        return rows
    }

    /// The rows `currentJobRows(state:)` returns, in its order, one at a time, without holding
    /// them: the stored rows come from a cursor, merged with the rows of the jobs that events
    /// after the table's checkpoint touched (those alone are held, folded in memory). With
    /// `passes` above 1 the same rows are given again, `pass` 0, 1, … in turn, from the same
    /// snapshot: a table printed with its columns as wide as their widest value measures in one
    /// pass and prints in the next. (`jobs` on 175,000 jobs held them all: 613 MB with `--json`.)
    ///
    /// ```swift
    /// try ledger.forEachCurrentJobRow(state: .failed) { _, row in print(row.id, row.errorCode ?? "") }
    /// ```
    public func forEachCurrentJobRow(state filter: JobStatus? = nil, passes: Int = 1,
                                     _ body: (_ pass: Int, JobRow) throws -> Void) throws(LedgerError) {
        try readSnapshot { db in
            var after: Int64 = 0
            if hasProjections { after = try Ledger.checkpoint(db, .jobs) }
            // Packed: a dictionary of states keeps a whole state in every bucket (`jobs` on a log
            // of 200,000 queued jobs not yet in the table peaked at 526 MB that way, 423 packed).
            var states = PackedJobStates()
            while true {
                let page = try Ledger.projectedEvents(db, after: after, through: .max, limit: 4096)
                guard let last = page.last else { break }
                for e in page {
                    var state = try states[e.job] ?? (e.version == 1 ? nil : Ledger.foldJob(db, job: e.job, from: nil, through: e.version - 1))
                    state = try Lifecycle.apply(e.payload, to: state, job: e.job, at: e.recordedAt)
                    states[e.job] = state
                }
                after = last.seq
            }
            // The folded jobs replace their stored rows, whatever state those are in.
            var touched = Set<JobID>()
            var folded: [JobRow] = []
            for s in states.values {
                touched.insert(s.id)
                guard filter == nil || s.status == filter else { continue }
                let paths = s.artefactPathnames
                let preview = hasProjections ? try paths.preview.flatMap { try BlobProjection.url(db, pathname: $0.description) } : nil
                let result = hasProjections ? try paths.result.flatMap { try BlobProjection.url(db, pathname: $0.description) } : nil
                folded.append(JobRow(state: s, previewURL: preview, resultURL: result))
            }
            states = PackedJobStates()
            // SQLite's order for `ORDER BY created_at, id`: ids compare as bytes.
            func precedes(_ a: JobRow, _ b: JobRow) -> Bool {
                a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.id.rawValue.utf8.lexicographicallyPrecedes(b.id.rawValue.utf8)
            }
            folded.sort(by: precedes)
            for pass in 0..<max(1, passes) {
                // A merge of the two ordered runs: the stored rows (a job folded above is left
                // out, its folded row stands) and the folded ones.
                var next = 0
                // (A stored row in another state stays out unless a later event, folded above,
                // brings its job into this one: `jobs --state running` on 200,000 stored jobs,
                // none running, read them all and took 327 MB.)
                if hasProjections {
                    try JobsTableProjection.forEachRow(db, path: path, state: filter) { row in
                        guard !touched.contains(row.id) else { return }
                        while next < folded.count, precedes(folded[next], row) {
                            try body(pass, folded[next])
                            next += 1
                        }
                        try body(pass, row)
                    }
                }
                while next < folded.count {
                    try body(pass, folded[next])
                    next += 1
                }
            }
        }
    }
}

extension Ledger {
    /// The published URLs of a job's artefacts (its preview and its result), as the blob
    /// projection recorded them: nil for one not uploaded (yet), or on a log without
    /// projections. One lookup per artefact, whatever the size of the `jobs` table.
    ///
    /// ```swift
    /// let urls = try ledger.artefactURLs(of: state)
    /// print(urls.preview ?? "no preview yet", urls.result ?? "no result yet")
    /// ```
    public func artefactURLs(of state: JobState) throws(LedgerError) -> (preview: String?, result: String?) {
        guard hasProjections else { return (nil, nil) }
        let paths = state.artefactPathnames
        return try readSnapshot { db in
            (try paths.preview.flatMap { try BlobProjection.url(db, pathname: $0.description) },
             try paths.result.flatMap { try BlobProjection.url(db, pathname: $0.description) })
        }
    }
}

/// A page of jobs from the `jobs` table: what `jobledger serve` lists. See
/// `Ledger.jobListPage(state:kind:owner:before:limit:)`.
public struct JobListPage: Sendable {
    /// A job of the page: its state as of the table's row, and its artefacts' URLs as the
    /// table holds them.
    public struct Entry: Sendable {
        /// The job's state at the version the table holds (folded from that job's events).
        public var state: JobState
        /// The table's `preview_url`.
        public var previewURL: String?
        /// The table's `result_url`.
        public var resultURL: String?
    }
    /// Newest first (by id, descending), at most `limit`.
    public var jobs: [Entry]
    /// True when more jobs pass the filter after the last one: page on from its id.
    public var hasMore: Bool
    /// How many jobs of each state pass the owner and kind filters (not the state filter or
    /// the cursor); a state with none is absent.
    public var counts: [JobStatus: Int]
    /// How long counting took (zero when it was skipped).
    public var countingTime: Duration = .zero
    /// False when `before` names no row of the table under the owner filter: not an id a page
    /// of this list can have ended on (a tampered or made-up cursor), so the page below it means
    /// nothing. True without a `before`.
    public var cursorListed: Bool = true
}

extension Ledger {
    /// One page of the stored `jobs` table, newest first (ids descending, compared as bytes as
    /// SQLite compares them), read by keyset from an index in one snapshot: jobs of `state`
    /// (any when nil), of `kind` (any when nil), whose `owner` column is `owner` (every job when
    /// nil), with ids below `before` (`cursorListed` says whether the table holds `before`, under
    /// the owner filter: one primary-key lookup); and the counts per state under the owner and kind filters,
    /// by `GROUP BY` (left empty with `counting: false`, for a caller that has them from a recent
    /// page). Each job of the page is folded from its own events up to the version its
    /// row holds, so the page is the table's view. Costs the page and its jobs' events, plus the
    /// counted rows (read from an index), never the whole log. The table is a projection: it
    /// lags the log by however far the jobs projection is behind (`jobsTableCheckpoint()`).
    /// Needs schema v6 (a log opened for writing is migrated to it).
    ///
    /// ```swift
    /// let page = try ledger.jobListPage(state: .running, owner: "user_alice", limit: 50)
    /// for e in page.jobs { print(e.state.id, e.state.kind, e.state.progress) }
    /// if page.hasMore, let last = page.jobs.last {
    ///     _ = try ledger.jobListPage(state: .running, owner: "user_alice", before: last.state.id, limit: 50)
    /// }
    /// ```
    public func jobListPage(state: JobStatus? = nil, kind: String? = nil, owner: String? = nil, before: JobID? = nil, limit: Int,
                            counting: Bool = true) throws(LedgerError) -> JobListPage {
        guard schemaVersion >= 6 else {
            throw .storage("\(path) has log schema v\(schemaVersion); the job list needs v6 (open it for writing once to migrate it)")
        }
        return try readSnapshot { db in
            try JobsTableSchema.requireTable(db, path: path)
            var filters: [String] = []
            var args: [(any DatabaseValueConvertible)?] = []
            if let owner { filters.append("owner = ?"); args.append(owner) }
            if let kind { filters.append("kind = ?"); args.append(kind) }
            // The index that yields this filter's rows in id order (a keyset walk): chosen here,
            // not left to the planner, which without statistics may prefer to sort.
            let countIndex = owner != nil ? " INDEXED BY jobs_by_owner" : kind != nil ? " INDEXED BY jobs_by_kind" : ""
            let countWhere = filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND ")
            var counts: [JobStatus: Int] = [:]
            let clock = ContinuousClock()
            let countingStarted = clock.now
            if counting {
                for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM jobs\(countIndex)\(countWhere) GROUP BY state",
                                            arguments: StatementArguments(args)) {
                    if let s = JobStatus(rawValue: row[0]) { counts[s] = row[1] }
                }
            }
            let countingTime = counting ? countingStarted.duration(to: clock.now) : .zero
            if let state { filters.append("state = ?"); args.append(state.rawValue) }
            var cursorListed = true
            if let before {
                // A cursor is the id of a page's last row, and a job's row stays (the log is
                // append-only; only a rebuild empties the table, and refills it), so an id the
                // table does not hold (as the caller's) is not one a page gave out.
                cursorListed = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?\(owner != nil ? " AND owner = ?" : ""))",
                                                 arguments: StatementArguments([before.rawValue] + (owner.map { [$0] } ?? []))) ?? false
                filters.append("id < ?"); args.append(before.rawValue)
            }
            let pageIndex = owner != nil ? " INDEXED BY jobs_by_owner" : state != nil ? " INDEXED BY jobs_by_state_id"
                : kind != nil ? " INDEXED BY jobs_by_kind" : ""
            let pageWhere = filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND ")
            args.append(limit + 1)
            let rows = try Row.fetchAll(db, sql: "SELECT id, version, preview_url, result_url FROM jobs\(pageIndex)\(pageWhere) ORDER BY id DESC LIMIT ?",
                                        arguments: StatementArguments(args))
            var jobs: [JobListPage.Entry] = []
            for row in rows.prefix(limit) {
                let id = try JobID(row[0] as String)
                guard let s = try Ledger.foldJob(db, job: id, from: nil, through: row[1]) else {
                    throw LedgerError.storage("the jobs table holds \(id), which the log does not")
                }
                jobs.append(.init(state: s, previewURL: row[2], resultURL: row[3]))
            }
            return JobListPage(jobs: jobs, hasMore: rows.count > limit, counts: counts, countingTime: countingTime, cursorListed: cursorListed)
        }
    }
}
