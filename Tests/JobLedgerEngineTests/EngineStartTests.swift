import Foundation
import JobLedger
@testable import JobLedgerEngine
@testable import JobLedgerSQLite
import Testing

/// What an engine's start will read is known beforehand, in two small reads: all the events
/// when there is no engine snapshot (a log just imported), else those after it. `work` and
/// `serve` say a long one on stderr (600,000 events kept `work` silent for 14 s); `viewSeq`
/// tells them when it is over.
@Suite struct EngineStartTests {
    func engine(_ f: Fixture) -> JobEngine {
        var o = JobEngine.Options(workerID: "w")
        o.logger.logLevel = .warning
        let e = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        e.register(kind: "k") { _ in JobCompletion() }
        return e
    }

    func submit(_ f: Fixture, _ n: Int) async throws {
        _ = try await f.ledger.append((0..<n).map { _ in NewEvent(job: JobID.generate(at: f.clock.now()), payload: .queued(.init(kind: "k"))) })
    }

    @Test func aStartWithoutASnapshotReadsTheWholeLog() async throws {
        let f = try Fixture()
        #expect(try EngineStart.of(f.ledger) == EngineStart(snapshotSeq: nil, head: 0))
        try await submit(f, 40)
        let cold = try EngineStart.of(f.ledger)
        #expect(cold == EngineStart(snapshotSeq: nil, head: 40))
        #expect(cold.eventsToRead == 40)
        #expect(cold.isLong(from: 40) && !cold.isLong(from: 41) && !cold.isLong())
        #expect(cold.beginning == "rebuilding the engine's state from 40 events (no snapshot) …")

        // Its view reaches the head it started at: the start is over.
        let e = engine(f)
        #expect(e.viewSeq == 0)
        await e.refresh()
        #expect(e.viewSeq == 40)

        // An engine that ran leaves a snapshot: the next start reads only what came after it.
        try await e.workUntilIdle()
        let snapshot = try #require(try f.ledger.readEngineSnapshot { seq, _, _, _ in seq })
        try await submit(f, 3)
        let warm = try EngineStart.of(f.ledger)
        let head = try #require(try f.ledger.head()).seq
        #expect(warm == EngineStart(snapshotSeq: snapshot, head: head))
        #expect(warm.eventsToRead == head - snapshot)
        #expect(warm.beginning == "rebuilding the engine's state from \(head - snapshot) event\(head - snapshot == 1 ? "" : "s") (after the engine snapshot at seq \(snapshot)) …")
    }
}
