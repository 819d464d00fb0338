import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// Recorded logs stay readable: importing one reproduces its recorded head, byte for byte.
@Suite struct FixtureTests {
    static let logs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fixtures/logs").standardized

    @Test func theRecordedDemoLogReproducesItsHead() async throws {
        let lines = try String(contentsOf: Self.logs.appendingPathComponent("demo-3-jobs.ndjson"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let head = try String(contentsOf: Self.logs.appendingPathComponent("demo-3-jobs.head"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("replayed.sqlite"))
        let report = try ledger.importNDJSON(lines)
        #expect(report.events == lines.count && report.jobs == 3)
        #expect(try ledger.head()?.description == head)
        #expect(try ledger.verify(expectHead: ChainHead(head)).isValid)
        // One attempt failed and was retried; every job finished.
        let states = try ledger.jobStates().values
        #expect(states.allSatisfy { $0.status == .completed })
        #expect(states.contains { $0.attempt == 2 && $0.lastError?.code == "render_timeout" })
        // The events keep the rule they were hashed under (the log records from which seq on
        // the current rule applies), and verify says so.
        #expect(try ledger.verify().rules == [.init(rule: .v1, from: 1, through: Int64(lines.count))])
        // Re-exporting gives back the recorded file, each line now naming its (older) rule.
        var exported: [String] = []
        try ledger.exportNDJSON { exported.append($0) }
        #expect(exported == lines.map { $0.dropLast() + #","hash_rule":"jobledger/v1"}"# })
        // Appended after the import, new events use the current rule.
        _ = try await ledger.append(NewEvent(job: jid("after-import"), payload: queued, idempotencyKey: "k-1"))
        #expect(try ledger.verify().rules.last == .init(rule: .v2, from: Int64(lines.count) + 1, through: Int64(lines.count) + 1))
    }
}
