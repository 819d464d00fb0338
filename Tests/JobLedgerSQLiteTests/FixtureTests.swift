import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// Recorded logs stay readable: importing one reproduces its recorded head, byte for byte.
@Suite struct FixtureTests {
    static let logs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fixtures/logs").standardized

    @Test func theRecordedDemoLogReproducesItsHead() throws {
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
        // Re-exporting gives back the recorded file.
        var exported: [String] = []
        try ledger.exportNDJSON { exported.append($0) }
        #expect(exported == lines)
    }
}
