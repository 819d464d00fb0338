import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// While another connection holds the log's write lock, the ledger's own background writes
/// (projection steps, staging an asset) each held GRDB's writer queue for a whole busy timeout
/// in turn, and an append queued behind three of them was refused after four busy timeouts
/// (`serve` answered a submit's 503 after 19 s with the default 5 s). They now wait for the
/// lock off the queue, and an append waits its own busy timeout only.
@Suite struct PoliteWriteTests {
    static let queued = EventPayload.queued(.init(kind: "k"))

    /// A new log in `dir` with busy timeout `busy`, and another connection holding its write lock.
    static func lockedLog(_ dir: TempDir, busy: Duration) async throws -> (Ledger, DatabaseQueue) {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config(busy: busy))
        let holder = try rawQueue(path)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        return (ledger, holder)
    }

    /// Until a background write of `ledger` has entered its write gate (bounded, no sleeping).
    static func untilAWriteIsUnderWay(_ ledger: Ledger) async {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ledger.gate.writersInFlight == 0, ContinuousClock.now < deadline { await Task.yield() }
    }

    @Test func anAppendBehindWaitingBackgroundWritesWaitsOneBusyTimeout() async throws {
        let dir = TempDir()
        let (ledger, holder) = try await Self.lockedLog(dir, busy: .seconds(1))
        let staging = (0..<3).map { i in Task { try await ledger.stageAsset(Data("asset \(i)".utf8), contentType: "image/png") } }
        await Self.untilAWriteIsUnderWay(ledger)
        let start = ContinuousClock.now
        let refused = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("j1"), payload: Self.queued)) }
        let waited = ContinuousClock.now - start
        guard case .busy? = refused else { Issue.record("\(String(describing: refused))"); return }
        // One busy timeout (1 s) and scheduling, not four.
        #expect(waited < .milliseconds(2_500), "the append waited \(waited)")
        // The background writes were refused after their own busy timeout, as before.
        for t in staging {
            await #expect(throws: (any Error).self) { try await t.value }
        }
        try await holder.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        // Free again: they go through.
        _ = try await ledger.stageAsset(Data("after".utf8), contentType: "image/png")
        #expect(try await ledger.append(NewEvent(job: jid("j2"), payload: Self.queued)).seq == 1)
    }

    @Test func aBackgroundWriteGetsTheLockOnceItIsFree() async throws {
        let dir = TempDir()
        let (ledger, holder) = try await Self.lockedLog(dir, busy: .seconds(30))
        let staging = Task { try await ledger.stageAsset(Data("waits".utf8), contentType: "image/png") }
        await Self.untilAWriteIsUnderWay(ledger)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        let asset = try await staging.value
        #expect(asset.size == 5)
    }
}
