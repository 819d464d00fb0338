import Foundation
import GRDB
import JobLedger
import Logging
@testable import JobLedgerServer
import Testing

/// A read of the head that fails once (a passing error) makes the chain `unreadable` only until
/// the head can be read again; it stood until the head moved or a full re-verification was due.
@Suite struct ChainStatusRecoveryTests {
    @Test func aPassingHeadReadFailureClearsAtTheNextRead() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        let chain = h.server.chain
        _ = try chain.verdict(logger: LogCapture().logger)
        guard case .verdict = chain.latest else { Issue.record("no verdict: \(chain.latest)"); return }
        // The events table away for a moment (the head cannot be read), then back, unchanged.
        let other = try DatabaseQueue(path: h.ledger.path)
        try await other.write { db in try db.execute(sql: "ALTER TABLE events RENAME TO events_away") }
        #expect(throws: (any Error).self) { _ = try chain.verdict(logger: LogCapture().logger) }
        guard case .unreadable = chain.latest else { Issue.record("not unreadable: \(chain.latest)"); return }
        try await other.write { db in try db.execute(sql: "ALTER TABLE events_away RENAME TO events") }
        let v = try chain.verdict(logger: LogCapture().logger)
        #expect(v.brokenAt == nil && v.removedRules.isEmpty, "\(v)")
        guard case .verdict = chain.latest else { Issue.record("still \(chain.latest) with the head read again"); return }
    }
}
