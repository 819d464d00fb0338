import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// A run that ends owing effects says how to finish. With every pending item waiting out a
/// backoff (a `Retry-After: 20` from Vercel Blob, say), it said "finish with: jobledger project
/// --once", which, run at once, delivered nothing and said the same again. It now says when the
/// first try is due, and the live `project` that delivers each as it comes due.
@Suite struct OwedEffectsAdviceTests {
    @Test func itemsNotDueYetAreSaidWithTheirTime() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        #expect(try await jobledger(["submit", "design", "--db", db], in: scratch).status == 0)
        do {
            let ledger = try Ledger.open(path: db)
            let runner = ProjectionRunner(ledger: ledger, blobs: LocalFolderBlobStore(path: db + ".blobs"), broadcasts: BroadcastHub(),
                                          options: ProjectionRunner.Options(owner: "setup"))
            _ = try await runner.catchUp()
            await runner.release()
        }
        // The broadcast of the queued event, refused with a Retry-After of an hour.
        let due = Timestamp.now.adding(milliseconds: 3_600_000)
        let q = try DatabaseQueue(path: db)
        try await q.write { db in
            try db.execute(sql: "UPDATE outbox SET status = 'pending', sent_at = NULL, attempts = 1, next_attempt_at = ?, last_error = 'HTTP 429' WHERE projection = 'broadcast'",
                           arguments: [due.milliseconds])
        }
        try q.close()
        let r = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(r.status == 7, "\(r)")
        #expect(r.stderr.contains("finish with: jobledger project --once --db \(db) after \(due.iso8601), when the first try is due"), "\(r.stderr)")
        #expect(r.stderr.contains("or `jobledger project --db \(db)`, which delivers each as it comes due"), "\(r.stderr)")
    }
}
