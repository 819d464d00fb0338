import Foundation
import GRDB
import JobLedger
@testable import JobLedgerEngine
@testable import JobLedgerSQLite
import Testing

/// `EngineSnapshotAudit`: a snapshot an engine wrote agrees with its log (queued jobs of every
/// kind, delayed ones, a job started elsewhere after it); one edited behind the log's back, in a
/// way a starting engine still reads (a queued job left out, a version changed, a finished job
/// added), is named, while verify passes: an engine starting from it never ran the job left out.
@Suite struct EngineSnapshotAuditTests {
    let helper = EngineSnapshotTests()

    /// A log with a stored snapshot holding the queued jobs of a kind nobody ran (some delayed).
    func logWithSnapshot() async throws -> (Fixture, queued: [JobID]) {
        let f = try Fixture()
        let ids = try await helper.submit(f, 40)
        try await helper.engine(f, interval: 100_000).workUntilIdle()
        let queued = try f.ledger.jobStates().values.filter { $0.status == .queued }.map(\.id).sorted()
        try #require(queued.count == 10 && Set(queued).isSubset(of: Set(ids)))
        return (f, queued)
    }

    /// The stored parts' jobs, edited by `change`, written back re-encoded (as a consistent edit
    /// of both tables would be: the engine still starts from it).
    func edit(_ f: Fixture, _ change: (inout [EngineSnapshot.Job]) -> Void) async throws {
        let (seq, kinds, bodies) = try #require(try f.ledger.readEngineSnapshot { seq, head, _, next -> (Int64, Int, [[UInt8]]) in
            var bodies: [[UInt8]] = []
            while let b = try next() { bodies.append(b) }
            return (seq, try EngineSnapshot.decodeHead(head).kinds.count, bodies)
        })
        var jobs = try bodies.flatMap { try EngineSnapshot.decodePart($0, seq: seq, kinds: kinds) }
        change(&jobs)
        let body = EngineSnapshot.encode(part: jobs, seq: seq), count = jobs.count
        try await f.ledger.writeTransaction { db in
            try db.execute(sql: "DELETE FROM engine_snapshot_parts")
            try db.execute(sql: "INSERT INTO engine_snapshot_parts (part, body) VALUES (1, ?)", arguments: [Data(body)])
            try db.execute(sql: "UPDATE engine_snapshots SET parts = 1, jobs = ?", arguments: [count])
        }
    }

    @Test func aSnapshotAnEngineWroteAgreesWithItsLog() async throws {
        let (f, _) = try await logWithSnapshot()
        #expect(try EngineSnapshotAudit.differences(f.ledger).isEmpty)
        // Events after it (a job queued and started elsewhere) are not its business.
        let late = try await helper.submit(f, 3)[0]
        _ = try await f.ledger.append(NewEvent(job: late, payload: .started(.init(worker: "elsewhere", attempt: 1,
                                                                                       leaseDeadline: f.clock.now().adding(milliseconds: 30_000)))))
        #expect(try EngineSnapshotAudit.differences(f.ledger).isEmpty)
        // No snapshot: nothing to compare.
        try await f.ledger.writeTransaction { db in try db.execute(sql: "DELETE FROM engine_snapshot_parts; DELETE FROM engine_snapshots") }
        #expect(try EngineSnapshotAudit.differences(f.ledger).isEmpty)
    }

    @Test func aQueuedJobLeftOutIsNamedAndAnEngineStartingFromItNeverRunsIt() async throws {
        let (f, queued) = try await logWithSnapshot()
        let dropped = queued[0]
        try await edit(f) { jobs in jobs.removeAll { $0.id == dropped } }
        let found = try EngineSnapshotAudit.differences(f.ledger)
        #expect(found.count == 1 && found[0].contains("leaves out 1 job queued or running in the log (\(dropped))"), "\(found)")
        #expect(try f.ledger.verify().isValid, "the log itself verifies")
        // What the audit warns of: an engine that starts from it does not hold the job.
        let fromSnapshot = helper.engine(f, interval: 100_000)
        await fromSnapshot.refresh()
        #expect(try !helper.fold(fromSnapshot).jobs.contains { $0.id == dropped })
    }

    @Test func aChangedVersionAndAFinishedJobAddedAreNamed() async throws {
        let (f, queued) = try await logWithSnapshot()
        let finished = try #require(try f.ledger.jobStates().values.first { $0.status == .completed }?.id)
        try await edit(f) { jobs in
            let i = jobs.firstIndex { $0.id == queued[1] }!
            jobs[i].version = 7
            var extra = jobs[0]
            extra.id = finished
            jobs.append(extra)
        }
        let found = try EngineSnapshotAudit.differences(f.ledger)
        #expect(found.contains { $0.contains("holds 1 job queued as the log does not (\(queued[1]) (it holds version 7 queued, the log has version 1 queued))") }, "\(found)")
        #expect(found.contains { $0.contains("holds 1 job queued that the log has not in flight (\(finished))") }, "\(found)")
        #expect(found.count == 2, "\(found)")
    }
}
