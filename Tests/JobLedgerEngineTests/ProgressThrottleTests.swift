import Foundation
import JobLedger
@testable import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Progress heartbeats that do not flood the log: reports inside the interval are merged into
/// the next durable `progress` event, every report extends the lease, and the last one before
/// `completed` is always written. Time is a `ManualClock` moved inside the handler.
@Suite struct ProgressThrottleTests {
    struct Report: Equatable { var fraction: Double; var message: String?; var lease: Timestamp? }

    func progressEvents(_ f: Fixture, _ job: JobID) throws -> (types: [EventType], reports: [Report]) {
        var types: [EventType] = [], reports: [Report] = []
        try f.ledger.forEachEvent(of: job) { e in
            types.append(e.type)
            if case .progress(let p) = e.payload { reports.append(Report(fraction: p.fraction, message: p.message, lease: p.leaseDeadline)) }
        }
        return (types, reports)
    }

    @Test func reportsInsideTheIntervalAreMergedAndTheLastIsWritten() async throws {
        let f = try Fixture()
        var o = JobEngine.Options(workerID: "w1")
        o.progressIntervalMilliseconds = 250
        o.leaseMilliseconds = 30_000
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        let t0 = f.clock.now()
        let leases = Recorder<Timestamp?>()
        engine.register(kind: "k") { ctx in
            // t0: written (the first); +100, +200: merged; +300: written, carrying 0.4;
            // +400: merged, then written before `completed`.
            for (i, fraction) in [0.1, 0.2, 0.3, 0.4, 0.5].enumerated() {
                if i > 0 { f.clock.advance(milliseconds: 100) }
                try await ctx.progress(fraction, message: "step \(i)")
                leases.add(engine.state.withLock { $0.running[ctx.job]?.leaseDeadline })
            }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)
        let (types, reports) = try progressEvents(f, job)
        #expect(types == [.queued, .started, .progress, .progress, .progress, .completed])
        #expect(reports.map(\.fraction) == [0.1, 0.4, 0.5])
        #expect(reports.map(\.message) == ["step 0", "step 3", "step 4"])
        #expect(reports[0].lease == t0.adding(milliseconds: 30_000))
        #expect(reports[1].lease == t0.adding(milliseconds: 30_300))
        // Every report extended the lease the engine holds, merged ones included.
        #expect(leases.all == (0..<5).map { t0.adding(milliseconds: 30_000 + Int64($0) * 100) })
    }

    @Test func intervalZeroWritesEveryReport() async throws {
        let f = try Fixture()
        var o = JobEngine.Options(workerID: "w1")
        o.progressIntervalMilliseconds = 0
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        engine.register(kind: "k") { ctx in
            for fraction in [0.25, 0.5, 0.75] { try await ctx.progress(fraction) }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        #expect(try progressEvents(f, job).reports.map(\.fraction) == [0.25, 0.5, 0.75])
    }

    /// The decision alone: the first report, and any report at least the interval after the
    /// last durable one, is written; 0 writes all.
    @Test func theDecisionIsByTheIntervalSinceTheLastDurableReport() {
        let t = { Timestamp(milliseconds: $0) }
        #expect(ProgressThrottle.decide(intervalMilliseconds: 250, lastDurable: nil, now: t(5)) == .write)
        #expect(ProgressThrottle.decide(intervalMilliseconds: 250, lastDurable: t(0), now: t(249)) == .merge)
        #expect(ProgressThrottle.decide(intervalMilliseconds: 250, lastDurable: t(0), now: t(250)) == .write)
        #expect(ProgressThrottle.decide(intervalMilliseconds: 0, lastDurable: t(0), now: t(0)) == .write)
    }
}
