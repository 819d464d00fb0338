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

    func throttled(_ f: Fixture, interval: Int64 = 250) -> JobEngine {
        var o = JobEngine.Options(workerID: "w1")
        o.progressIntervalMilliseconds = interval
        o.leaseMilliseconds = 30_000
        return JobEngine(ledger: f.ledger, clock: f.clock, options: o)
    }

    /// Reports merged inside the interval; the handler then goes quiet, and the timer writes the
    /// latest report when the interval since the last durable one has passed; the report merged
    /// after that is written before `completed`.
    @Test func mergedReportsAreWrittenByTheTimerAndTheLastBeforeCompleted() async throws {
        let f = try Fixture()
        let engine = throttled(f)
        let t0 = f.clock.now()
        let leases = Recorder<Timestamp?>()
        engine.register(kind: "k") { ctx in
            func report(_ fraction: Double, _ step: Int) async throws {
                try await ctx.progress(fraction, message: "step \(step)")
                leases.add(engine.state.withLock { $0.running[ctx.job]?.leaseDeadline })
            }
            try await report(0.1, 0)                                        // t0: written (the first)
            f.clock.advance(milliseconds: 100); try await report(0.2, 1)    // +100: merged
            f.clock.advance(milliseconds: 100); try await report(0.3, 2)    // +200: merged
            f.clock.advance(milliseconds: 50)                               // +250: quiet; the timer writes 0.3
            await until("the timer's progress event") { (try? progressEvents(f, ctx.job).reports.count) == 2 }
            f.clock.advance(milliseconds: 50); try await report(0.4, 3)     // +300: merged (50 ms after the timer's)
            f.clock.advance(milliseconds: 50); try await report(0.5, 4)     // +350: merged, then written before completed
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)
        let (types, reports) = try progressEvents(f, job)
        #expect(types == [.queued, .started, .progress, .progress, .progress, .completed])
        #expect(reports.map(\.fraction) == [0.1, 0.3, 0.5])
        #expect(reports.map(\.message) == ["step 0", "step 2", "step 4"])
        #expect(reports.map(\.lease) == [30_000, 30_250, 30_350].map { t0.adding(milliseconds: $0) })
        // Every report extended the lease the engine holds, merged ones included.
        #expect(leases.all == [30_000, 30_100, 30_200, 30_300, 30_350].map { t0.adding(milliseconds: $0) })
    }

    /// A report the interval after the last durable one, with nothing merged between, is written
    /// at once.
    @Test func aReportPastTheIntervalIsWrittenAtOnce() async throws {
        let f = try Fixture()
        let engine = throttled(f)
        engine.register(kind: "k") { ctx in
            try await ctx.progress(0.1)
            f.clock.advance(milliseconds: 300)
            try await ctx.progress(0.2)
            // Written before the handler returns (not by the flush at the end).
            #expect((try? progressEvents(f, ctx.job).reports.map(\.fraction)) == [0.1, 0.2])
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        #expect(try progressEvents(f, job).reports.map(\.fraction) == [0.1, 0.2])
    }

    /// An attempt that fails with a report still merged writes no progress after its `failed`,
    /// even when the clock then passes the timer's moment.
    @Test func aFailedAttemptLeavesNoTimerBehind() async throws {
        let f = try Fixture()
        let engine = throttled(f)
        engine.register(kind: "k") { ctx in
            try await ctx.progress(0.1)
            f.clock.advance(milliseconds: 100)
            try await ctx.progress(0.2)  // merged; the timer would write it at +250
            throw JobError(code: "boom", message: "no", retryable: false)
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        try await engine.tick()
        f.clock.advance(milliseconds: 1_000)
        try await engine.tick()
        #expect(try progressEvents(f, job).types == [.queued, .started, .progress, .failed])
        #expect(engine.state.withLock { $0.running.isEmpty })
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
        #expect(ProgressThrottle.decide(intervalMilliseconds: 250, lastDurable: t(1_000), now: t(999)) == .write)
    }

    /// The clock is stepped back (NTP, a VM restored) while an attempt runs: its next report is
    /// written at once, with a lease from the clock as it now reads, instead of being merged
    /// until the clock is back where it was (ten minutes with no heartbeat in the log, while the
    /// handler reports every second).
    @Test func aReportAfterTheClockWentBackIsWrittenAtOnce() async throws {
        let f = try Fixture()
        let engine = throttled(f)
        engine.register(kind: "k") { ctx in
            try await ctx.progress(0.1)
            f.clock.advance(milliseconds: -600_000)
            try await ctx.progress(0.2)
            #expect((try? progressEvents(f, ctx.job).reports.map(\.fraction)) == [0.1, 0.2])
            f.clock.advance(milliseconds: 1_000)
            try await ctx.progress(0.3)
            #expect((try? progressEvents(f, ctx.job).reports.map(\.fraction)) == [0.1, 0.2, 0.3])
            return JobCompletion()
        }
        let t0 = f.clock.now()
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        let reports = try progressEvents(f, job).reports
        #expect(reports.map(\.lease) == [30_000, -570_000, -569_000].map { t0.adding(milliseconds: $0) })
    }
}
