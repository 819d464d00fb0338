import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A job with no run-at of its own may not start before the time it was queued at. Queued by a
/// clock ahead of the worker's (or before the worker's clock was stepped back), it waits for that
/// clock alone: the engine says so, once a minute at most, and not for a job scheduled later on
/// purpose.
@Suite struct ClockCheckTests {
    func warnings(_ records: Recorder<CapturingLogHandler.Record>) -> [CapturingLogHandler.Record] {
        records.all.filter { $0.level == .warning && $0.message.contains("wait only for this worker's clock") }
    }

    @Test func jobsQueuedByAClockAheadAreNamedOnceAMinute() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records)
        engine.register(kind: "k") { _ in JobCompletion() }
        // Scheduled ten minutes ahead on purpose: waiting for it is no clock's fault.
        _ = try await engine.submit(kind: "k", runAt: f.clock.now().adding(milliseconds: 600_000))
        #expect(try await engine.tick() == 0)
        #expect(warnings(records).isEmpty)

        // Queued by a process whose clock is ten minutes ahead of this one.
        let ahead = JobID.generate()
        _ = try await f.ledger.append(NewEvent(job: ahead, payload: .queued(.init(kind: "k")), recordedAt: f.clock.now().adding(milliseconds: 600_000)))
        f.clock.advance(milliseconds: 60_000)
        #expect(try await engine.tick() == 0)
        let first = try #require(warnings(records).last, "\(records.all.map(\.message))")
        #expect(first.metadata["job"] == ahead.rawValue && first.metadata["ahead_seconds"] == "540" && first.metadata["jobs"] == "1")

        // Not again within the minute…
        f.clock.advance(milliseconds: 30_000)
        #expect(try await engine.tick() == 0)
        #expect(warnings(records).count == 1)
        // …but at once when this clock steps back.
        f.clock.advance(milliseconds: -120_000)
        #expect(try await engine.tick() == 0)
        #expect(warnings(records).count == 2 && warnings(records).last?.metadata["ahead_seconds"] == "630")

        // Once this clock gets there, both run (the scheduled one is due then too).
        f.clock.advance(milliseconds: 629_999)
        #expect(try await engine.tick() == 0)
        f.clock.advance(milliseconds: 1)
        #expect(try await engine.tick() == 2)
        #expect(try engine.result(of: ahead)?.status == .completed)
    }
}
