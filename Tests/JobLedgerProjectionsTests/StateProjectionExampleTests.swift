import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Testing

// The state projection example of Docs/Embedding.md § "Your own projection", as it is there.

/// How long each finished job took, from queued to finished, in a table of its own.
struct JobDurations: StateProjection {
    let name = ProjectionName("job_durations")

    func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS job_durations (
                job TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, seconds REAL NOT NULL)
            """)
        for (id, s) in states {  // each job of the batch, as it stands after the batch
            if s.status.isTerminal, let end = s.finishedAt {
                try db.execute(sql: """
                    INSERT INTO job_durations VALUES (?, ?, ?, ?)
                    ON CONFLICT (job) DO UPDATE SET state = excluded.state, seconds = excluded.seconds
                    """, arguments: [id.rawValue, s.kind, s.status.rawValue, Double(end.milliseconds - s.createdAt.milliseconds) / 1000])
            } else {
                try db.execute(sql: "DELETE FROM job_durations WHERE job = ?", arguments: [id.rawValue])  // requeued
            }
        }
    }

    func reset(_ db: Database) throws {
        try db.execute(sql: "DROP TABLE IF EXISTS job_durations")
    }
}

// End of the example.

@Suite struct StateProjectionExampleTests {
    /// Runs the example beside the jobs table and reads its rows back with `Ledger.read`,
    /// through a requeue (the row goes) and a rebuild (the same rows again).
    @Test func anAppsStateProjectionIsWrittenOnceAndReadBack() async throws {
        let f = try Fixture()
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [JobsTableProjection(), JobDurations()], effects: [])
        let lease = f.clock.now().adding(milliseconds: 60_000)
        let fast = try JobID("fast"), slow = try JobID("slow")
        for job in [fast, slow] { _ = try await f.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", maxAttempts: 1)))) }
        f.clock.advance(milliseconds: 2_000)
        _ = try await f.ledger.append([NewEvent(job: fast, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease))),
                                       NewEvent(job: fast, payload: .completed(.init(attempt: 1)))])
        f.clock.advance(milliseconds: 8_000)
        _ = try await f.ledger.append([NewEvent(job: slow, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease))),
                                       NewEvent(job: slow, payload: .failed(.init(code: "oom", message: "", retryable: false, attempt: 1)))])
        _ = try await runner.catchUp()

        func rows() throws -> [String] {
            try f.ledger.read { db in
                try Row.fetchAll(db, sql: "SELECT job, state, seconds FROM job_durations ORDER BY seconds DESC")
                    .map { "\($0["job"] as String) \($0["state"] as String) \($0["seconds"] as Double)" }
            }
        }
        #expect(try rows() == ["slow failed 10.0", "fast completed 2.0"])
        // Applied once: catching up again changes nothing.
        _ = try await runner.catchUp()
        #expect(try rows() == ["slow failed 10.0", "fast completed 2.0"])
        // A dead-letter requeue takes the failed job out of the finished ones.
        _ = try await f.ledger.append(NewEvent(job: slow, payload: .queued(.init(kind: "design")), expectedVersion: 3))
        _ = try await runner.catchUp()
        #expect(try rows() == ["fast completed 2.0"])
        // A rebuild: the rows emptied (here the table dropped) and the checkpoint back to 0,
        // then the same rows again from the log.
        try await f.ledger.resetStateProjection(JobDurations())
        #expect(try f.ledger.checkpoint(of: JobDurations().name).checkpoint == 0)
        #expect(throws: (any Error).self) { try rows() }
        _ = try await runner.catchUp()
        #expect(try rows() == ["fast completed 2.0"])
        // `read` only reads.
        let write = #expect(throws: LedgerError.self) { try f.ledger.read { db in try db.execute(sql: "DELETE FROM job_durations") } }
        #expect(write?.storageFault == nil, "a write in a read is the caller's mistake, not a fault of the storage: \(String(describing: write))")
        #expect("\(String(describing: write))".contains("only reads"))
        #expect(try rows() == ["fast completed 2.0"])
    }
}
