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
    /// What `jobledger jobs` prints.
    ///
    /// ```swift
    /// for row in try ledger.currentJobRows(state: .running) {
    ///     print(row.id, row.kind, "\(Int(row.progress * 100))%", row.message ?? "")
    /// }
    /// ```
    public func currentJobRows(state filter: JobStatus? = nil) throws(LedgerError) -> [JobRow] {
        try readSnapshot { db in
            var rows: [JobID: JobRow] = [:]
            var after: Int64 = 0
            if hasProjections {
                after = try Ledger.checkpoint(db, .jobs)
                for row in try JobsTableProjection.fetchRows(db) { rows[row.id] = row }
            }
            var states: [JobID: JobState] = [:]
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
            for s in states.values {
                let paths = s.artefactPathnames
                let preview = hasProjections ? try paths.preview.flatMap { try BlobProjection.url(db, pathname: $0.description) } : nil
                let result = hasProjections ? try paths.result.flatMap { try BlobProjection.url(db, pathname: $0.description) } : nil
                rows[s.id] = JobRow(state: s, previewURL: preview, resultURL: result)
            }
            // SQLite's order for `ORDER BY created_at, id`: ids compare as bytes.
            return rows.values.filter { filter == nil || $0.state == filter }.sorted { a, b in
                a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.id.rawValue.utf8.lexicographicallyPrecedes(b.id.rawValue.utf8)
            }
        }
    }
}
