import Foundation
import GRDB
import JobLedgerTestSupport
import Testing

/// `replay --check` compares the engine snapshot with the log: a consistent edit of its two tables
/// (the parts removed, the counts set to match) left a queued job that no worker starting from it
/// would ever run, while verify, replay --check and projections --check all passed.
@Suite struct ReplayCheckSnapshotCLITests {
    @Test func aSnapshotThatLeavesOutAQueuedJobIsDrift() async throws {
        let scratch = Scratch()
        _ = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch)
        let other = try await jobledger(["submit", "other", "--db", "s.sqlite"], in: scratch)
        let job = other.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Works the design job; the other kind's job stays queued, in the snapshot written at the end.
        let work = try await jobledger(["work", "--db", "s.sqlite", "--until-idle", "--fail-rate", "0"], in: scratch)
        try #require(work.status == 0, "\(work)")
        let clean = try await jobledger(["replay", "--check", "--db", "s.sqlite"], in: scratch)
        #expect(clean.status == 0 && clean.stdout.hasPrefix("ok: "), "\(clean)")

        let q = try DatabaseQueue(path: scratch.path("s.sqlite"))
        try await q.write { db in
            try db.execute(sql: "DELETE FROM engine_snapshot_parts; UPDATE engine_snapshots SET parts = 0, jobs = 0")
        }
        try q.close()
        let r = try await jobledger(["replay", "--check", "--db", "s.sqlite"], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.contains("drift: the engine snapshot at seq ") && r.stdout.contains("leaves out 1 job queued or running in the log (\(job))"), "\(r)")
        #expect(r.stdout.contains("fix: delete the engine snapshot"), "\(r)")
        let json = try await jobledger(["replay", "--check", "--json", "--db", "s.sqlite"], in: scratch)
        #expect(json.status == 1 && json.stdout.contains("\"engine_snapshot_remedy\":") && json.stdout.contains(job), "\(json)")

        // The fix it names: the next engine folds the whole log, and the check passes.
        let q2 = try DatabaseQueue(path: scratch.path("s.sqlite"))
        try await q2.write { db in try db.execute(sql: "DELETE FROM engine_snapshot_parts; DELETE FROM engine_snapshots") }
        try q2.close()
        let fixed = try await jobledger(["replay", "--check", "--db", "s.sqlite"], in: scratch)
        #expect(fixed.status == 0, "\(fixed)")
    }
}
