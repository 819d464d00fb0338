import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// `chain_rules` says which hash rule covers which seqs. Changed behind its triggers' back, every
/// event it moves to the other rule stops verifying although no row changed: `verify` names the
/// table, not the row.
@Suite struct ChainRulesTamperTests {
    func log(_ dir: TempDir, editing sql: String) async throws -> Ledger {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        for j in 0..<2 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        let q = try rawQueue(path)
        try await q.write { db in
            try db.execute(sql: "DROP TRIGGER chain_rules_no_update; DROP TRIGGER chain_rules_no_delete")
            try db.execute(sql: sql)
        }
        try q.close()
        return ledger
    }

    @Test(arguments: ["UPDATE chain_rules SET from_seq = 5", "DELETE FROM chain_rules"])
    func anEditedRuleTableIsNamedNotTheRow(_ sql: String) async throws {
        let dir = TempDir()
        let ledger = try await log(dir, editing: sql)
        let p = try #require(try ledger.verify().problem)
        #expect(p.seq == 1)
        #expect(p.message.contains("chain_rules was changed"), "\(p)")
        #expect(p.message.contains("hash matches the row under jobledger/v2"), "\(p)")
        #expect(!p.message.contains("changed after it was recorded"), "\(p)")
    }

    /// A row whose hash matches under neither rule is still reported as a changed row.
    @Test func aChangedRowIsStillARowChange() async throws {
        let dir = TempDir()
        let ledger = try await log(dir, editing: "DROP TRIGGER events_no_update; UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 3")
        let p = try #require(try ledger.verify().problem)
        #expect(p.seq == 3)
        #expect(p.message.contains("time or idempotency key changed after it was recorded"), "\(p)")
    }
}
