import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Testing

/// `work` on a log without an engine snapshot and with 100,000 events or more (an `import`ed
/// one) says, before its engine folds them, that it will, and then how long it took: such a start
/// was silent (14 s at 600,000 events). A start from a snapshot says nothing.
@Suite struct EngineStartNoticeTests {
    @Test func aLongStartIsSaidBeforeAndAfter() async throws {
        let scratch = Scratch()
        let db = scratch.path("big.sqlite")
        let ledger = try Ledger.open(path: db)
        // Jobs of a kind the demo worker does not run: it folds them, then is idle at once.
        let events = 100_000
        for _ in 0..<(events / 10_000) {
            _ = try await ledger.append((0..<10_000).map { _ in NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "other"))) })
        }
        let cold = try await jobledger(["work", "--until-idle", "--no-effects", "--db", db], in: scratch)
        #expect(cold.status == 0, "\(cold)")
        let before = cold.stderrLines.firstIndex { $0 == "jobledger: rebuilding the engine's state from \(events) events (no snapshot) …" }
        let after = cold.stderrLines.firstIndex { $0.hasPrefix("jobledger: the engine's state was rebuilt from \(events) events in ") && $0.hasSuffix(" s") }
        #expect(before != nil && after != nil && before! < after!, "\(cold)")
        #expect(cold.stdout.isEmpty, "\(cold)")

        // It left a snapshot at the head: the next start reads nothing after it, and says nothing.
        let warm = try await jobledger(["work", "--until-idle", "--no-effects", "--db", db], in: scratch)
        #expect(warm.status == 0, "\(warm)")
        #expect(!warm.stderr.contains("rebuilding the engine's state") && !warm.stderr.contains("was rebuilt"), "\(warm)")
    }
}
