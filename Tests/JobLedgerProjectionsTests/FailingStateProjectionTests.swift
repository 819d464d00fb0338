import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// What an app's state projection throws.
struct OutOfInk: Error, CustomStringConvertible {
    var description: String { "the kinds ledger is out of ink" }
}

/// Counts queued jobs by kind; throws `OutOfInk` while `failing`, or runs broken SQL while `badSQL`.
struct KindsCount: StateProjection {
    final class Switches: Sendable {
        let failing = Mutex(true)
        let badSQL = Mutex(false)
    }
    let name = ProjectionName("kinds")
    let switches = Switches()

    func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {
        if switches.failing.withLock({ $0 }) { throw OutOfInk() }
        if switches.badSQL.withLock({ $0 }) { try db.execute(sql: "INSERT INTO no_such_table VALUES (1)") }
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS kinds (kind TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        for e in events where e.type == .queued {
            try db.execute(sql: "INSERT INTO kinds VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1", arguments: [states[e.job]!.kind])
        }
    }

    func reset(_ db: Database) throws { try db.execute(sql: "DROP TABLE IF EXISTS kinds") }
}

@Suite struct FailingStateProjectionTests {
    func thrown(_ body: () async throws -> Void) async -> (any Error)? {
        do { try await body(); return nil } catch { return error }
    }

    /// A state projection whose `apply` threw came back as `storage error: …` (a storage
    /// problem, exit 6) and was missing from the status: its batch, and the row that names it,
    /// were rolled back together. It is the projection's own failure, named, in its status.
    @Test func aStateProjectionThatThrowsIsItsOwnFailureShownInItsStatus() async throws {
        let f = try Fixture()
        let kinds = KindsCount()
        var o = ProjectionRunner.Options(owner: "app")
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [JobsTableProjection(), kinds], effects: [], options: o)
        for i in 0..<2 {
            _ = try await f.ledger.append([NewEvent(job: try JobID("job-\(i)"), payload: .queued(.init(kind: "poster")))])
        }

        let error = await thrown { try await runner.catchUp() }
        let e = try #require(error as? LedgerError, "\(String(describing: error))")
        #expect(e == .projectionFailed(projection: "kinds", reason: "the kinds ledger is out of ink"))
        #expect(e.storageFault == nil)
        #expect(e.description.hasPrefix("projection kinds failed: the kinds ledger is out of ink"), "\(e)")
        // In the status (what `projections status` and GET /api/projections show), with its error.
        var status = try #require(try f.ledger.projectionStatus().first { $0.name == kinds.name })
        #expect(status.lastError == "the kinds ledger is out of ink" && status.checkpoint == 0 && status.lag == 2, "\(status)")
        #expect(!status.hasOutbox)
        #expect(try f.ledger.projectionStatus([.jobs])[0].checkpoint == 2, "the projection before it went on")

        // SQL of its own that fails is its failure too, not the storage's.
        kinds.switches.failing.withLock { $0 = false }
        kinds.switches.badSQL.withLock { $0 = true }
        let sqlError = await thrown { try await runner.catchUp() }
        guard case .projectionFailed(let name, let reason)? = sqlError as? LedgerError else {
            Issue.record("expected projectionFailed, got \(String(describing: sqlError))")
            return
        }
        #expect(name == "kinds" && reason.contains("no such table: no_such_table"), "\(reason)")
        #expect(try f.ledger.projectionStatus([kinds.name])[0].lastError?.contains("no such table") == true)

        // Fixed, it carries on from its checkpoint, and the error is gone from its status.
        kinds.switches.badSQL.withLock { $0 = false }
        #expect(try await runner.catchUp().applied == 2)
        status = try f.ledger.projectionStatus([kinds.name])[0]
        #expect(status.lastError == nil && status.checkpoint == 2, "\(status)")
        #expect(try f.ledger.readSnapshot { try Int.fetchOne($0, sql: "SELECT n FROM kinds WHERE kind = 'poster'") } == 2)
    }
}
