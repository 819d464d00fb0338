import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

/// The artefacts of given jobs that the blob projection has not taken in yet: events after its
/// checkpoint that publish one (a `lowres` preview, a `completed` result), imported events
/// left out as the projection leaves them out. `blobs prune` refuses to run while there are
/// any: the projection, catching up after the prune, would publish what the log records as
/// deleted (only uploads already owed can be dropped).
struct BlobBacklog {
    /// The blob projection's checkpoint and the log's head.
    var checkpoint: Int64, head: Int64
    /// Artefacts not taken in yet, and the jobs they belong to.
    var artefacts = 0
    var jobs = Set<JobID>()

    init(of wanted: Set<JobID>, in ledger: Ledger) throws {
        (checkpoint, head) = try ledger.checkpoint(of: .blob)
        guard checkpoint < head, !wanted.isEmpty else { return }
        let imported = try ledger.importedRanges()
        let (from, to) = (checkpoint, head)
        // Only the events that can publish one are read and decoded (a `completed` may carry
        // no result): a prune of a log whose projection never ran read the whole log.
        (artefacts, jobs) = try ledger.read { db in
            var found = 0, jobs = Set<JobID>()
            let rows = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq > ? AND seq <= ? AND type IN ('lowres', 'completed') ORDER BY seq",
                                           arguments: [from, to])
            while let row = try rows.next() {
                let raw = RawEvent(row: row)
                guard !imported.contains(raw.seq), let e = try? raw.decoded(), wanted.contains(e.job), e.payload.publishedAsset != nil else { continue }
                found += 1
                jobs.insert(e.job)
            }
            return (found, jobs)
        }
    }

    /// What is left to take in, and what to do (nil when nothing is).
    var explanation: String? {
        guard artefacts > 0 else { return nil }
        return "the blob projection has not yet taken in \(plural(artefacts, "artefact")) of \(plural(jobs.count, "job")) finished before the cutoff "
            + "(it is at seq \(checkpoint), the log at \(head)): it would publish them after the prune. Let it catch up first "
            + "(`jobledger project --once` with the same --blob-store, or a running `work` or `serve`), then prune again"
    }
}
