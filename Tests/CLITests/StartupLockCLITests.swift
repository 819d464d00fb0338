import Foundation
import GRDB
import JobLedgerTestSupport
import JobLedger
import Testing

/// A long-running command started while another writer holds the log's lock past its busy
/// timeout (a backup, a long transaction in a `sqlite3` shell) waits for it, says so once, and
/// goes on when it is released: `work` and `serve` exited 5 at start, as a one-shot command does,
/// though Operations.md says workers and servers ride a lock out.
@Suite struct StartupLockCLITests {
    @Test func aWorkerStartedUnderAnotherWritersLockWaitsForIt() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let job = try await logWithQueuedJob(db, in: scratch)
        var c = Configuration()
        c.allowsUnsafeTransactions = true  // the lock is held across accesses on purpose
        let holder = try DatabaseQueue(path: db, configuration: c)
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let (worker, err) = try startWorker(["--db", db, "--no-effects", "--busy-timeout", "0.2", "--step-ms", "0", "--fail-rate", "0", "--workers", "1"])
        let waiting = await waitForLine(containing: "is locked by another writer", in: err.fileHandleForReading)
        #expect(waiting?.contains("waiting until it is released") == true, "\(String(describing: waiting))")
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try holder.close()
        let going = await waitForLine(containing: "the lock was released", in: err.fileHandleForReading)
        #expect(going != nil)
        // Printed by the worker's display once it has claimed the job: it works.
        let started = await waitForLine(containing: "attempt 1 started", in: err.fileHandleForReading)
        #expect(started != nil, "the worker never claimed \(job)")
        kill(worker.processIdentifier, SIGTERM)
        await waitForExit(worker, "the worker after SIGTERM")
        #expect(worker.terminationStatus == 0)
    }
}
