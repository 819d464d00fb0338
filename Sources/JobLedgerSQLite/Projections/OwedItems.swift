import Foundation
import GRDB
import JobLedger

/// The items a projection still owes for given jobs (pending, or dead and waiting for a
/// re-drive), and dropping them: what `jobledger blobs prune` does for the jobs whose artefacts
/// it deletes. A re-drive after a prune published again the images the prune was recorded as
/// deleting (an upload that had died for a job, re-driven later).
extension Ledger {
    /// How many items `name` still owes for each of `jobs` (pending or dead); jobs that are
    /// owed nothing are left out.
    public func owedItems(_ name: ProjectionName, of jobs: Set<JobID>) throws(LedgerError) -> [JobID: Int] {
        guard hasProjections, !jobs.isEmpty else { return [:] }
        return try read { db in
            let count = try db.cachedStatement(sql: """
                SELECT count(*) FROM outbox INDEXED BY outbox_by_job
                WHERE projection = ? AND job_id = ? AND status IN ('pending', 'dead')
                """)
            var owed: [JobID: Int] = [:]
            for job in jobs {
                let n = try Int.fetchOne(count, arguments: [name.rawValue, job.rawValue]) ?? 0
                if n > 0 { owed[job] = n }
            }
            return owed
        }
    }

    /// Drops what `name` still owes for `jobs`: its pending and dead items become coalesced (not
    /// delivered, not re-driven). Returns how many. An item being delivered meanwhile by a
    /// running projection may still go out once.
    public func dropOwedItems(_ name: ProjectionName, of jobs: Set<JobID>) async throws(LedgerError) -> Int {
        guard hasProjections, !jobs.isEmpty else { return 0 }
        do {
            return try await gatedWrite { db in
                let drop = try db.cachedStatement(sql: """
                    UPDATE outbox INDEXED BY outbox_by_job SET status = 'coalesced'
                    WHERE projection = ? AND job_id = ? AND status IN ('pending', 'dead')
                    """)
                var n = 0
                for job in jobs {
                    try drop.execute(arguments: [name.rawValue, job.rawValue])
                    n += db.changesCount
                }
                return n
            }
        } catch { throw map(error) }
    }
}
