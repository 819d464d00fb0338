import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

@Suite struct ImportStartTests {
    func export(_ dir: TempDir) async throws -> [String] {
        let ledger = try Ledger.open(path: dir.path("src.sqlite"))
        for j in 0..<2 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        var lines: [String] = []
        try ledger.exportNDJSON { lines.append($0) }
        return lines
    }

    @Test func anExportWithItsFirstJobCutOffIsRefused() async throws {
        let dir = TempDir()
        let lines = Array(try await export(dir).dropFirst(6))  // job-0's six events removed
        let target = try Ledger.open(path: dir.path("t.sqlite"))
        let error = await expectLedgerError { _ = try target.importNDJSON(lines) }
        guard case .importFailed(1, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("cut from its start"))
        #expect(try target.eventCount() == 0)
    }

    @Test func aFirstLineStrippedOfItsChainIsRefused() async throws {
        let dir = TempDir()
        var lines = try await export(dir)
        guard case .object(var o) = try JSONValue(parsing: lines[0]) else { Issue.record("not an object"); return }
        for k in ["payload_digest", "prev_hash", "hash"] { o[k] = nil }
        o["payload"] = ["kind": "forged"]
        lines[0] = JSONValue.object(o).canonicalText
        let target = try Ledger.open(path: dir.path("t.sqlite"))
        let error = await expectLedgerError { _ = try target.importNDJSON(lines) }
        guard case .importFailed(2, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(try target.eventCount() == 0)
    }
}
