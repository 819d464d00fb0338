import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A progress report the log would refuse is refused when the handler makes it, with the log's
/// error, also when the throttle would only have merged it: it used to be dropped silently and
/// then logged as a lost claim.
@Suite struct ProgressCheckTests {
    /// The rule a refused report broke (nil: it was not refused by the lifecycle).
    static func refusal(_ report: () async throws -> Void) async -> LifecycleError? {
        do { try await report() } catch LedgerError.rejected(let e) { return e } catch { Issue.record("unexpected \(error)") }
        return nil
    }

    @Test func invalidReportsInsideTheIntervalThrowTheLogsErrorAtOnce() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w1", logInto: records) { $0.progressIntervalMilliseconds = 250 }
        let refusals = Recorder<LifecycleError.Rule>()
        let tooLarge = Recorder<Bool>()
        engine.register(kind: "k") { ctx in
            try await ctx.progress(0.1)                 // written (the first)
            f.clock.advance(milliseconds: 10)
            try await ctx.progress(0.5)                 // merged
            for bad in [Double.nan, .infinity, -.infinity, -0.1, 1.5, 0.3] {   // 0.3: lower than 0.5
                if let e = await Self.refusal({ try await ctx.progress(bad) }) {
                    #expect(e.job == ctx.job && e.state == .running && e.event == .progress)
                    refusals.add(e.rule)
                }
            }
            do { try await ctx.progress(0.6, message: String(repeating: "x", count: 70_000)) } catch LedgerError.payloadTooLarge {
                tooLarge.add(true)
            }
            try await ctx.progress(0.7, message: "fine")  // merged, written before completed
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)

        let rules = refusals.all
        #expect(rules.count == 6)
        if rules.count == 6 {
            for (rule, bad) in zip(rules.prefix(5), [Double.nan, .infinity, -.infinity, -0.1, 1.5]) {
                guard case .progressOutOfRange(let f) = rule else { Issue.record("\(rule)"); continue }
                #expect(f.isNaN ? bad.isNaN : f == bad)
            }
            #expect(rules[5] == .progressBackwards(from: 0.5, to: 0.3))
        }
        #expect(tooLarge.all == [true])
        // Nothing of the refused reports reached the log; the attempt completed, and no claim was lost.
        var fractions: [Double] = []
        try f.ledger.forEachEvent(of: job) { e in if case .progress(let p) = e.payload { fractions.append(p.fraction) } }
        #expect(fractions == [0.1, 0.7])
        #expect(try engine.result(of: job)?.status == .completed)
        #expect(!records.all.contains { $0.message.contains("lost its claim") }, "\(records.all.map(\.message))")
    }

    /// With every report written (interval 0), the same refusals, before any write.
    @Test func invalidReportsAreRefusedWithoutTheThrottleToo() async throws {
        let f = try Fixture()
        var o = JobEngine.Options(workerID: "w1")
        o.progressIntervalMilliseconds = 0
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        let refusals = Recorder<LifecycleError.Rule>()
        engine.register(kind: "k") { ctx in
            try await ctx.progress(0.4)
            if let e = await Self.refusal({ try await ctx.progress(0.2) }) { refusals.add(e.rule) }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        #expect(refusals.all == [.progressBackwards(from: 0.4, to: 0.2)])
        #expect(try f.types(job) == [.queued, .started, .progress, .completed])
    }

    @Test func theRuleIsTheLifecyclesOwn() {
        #expect(Lifecycle.progressRefusal(0.5, after: 0.5) == nil)
        #expect(Lifecycle.progressRefusal(1, after: 0) == nil)
        #expect(Lifecycle.progressRefusal(0.3, after: 0.5) == .progressBackwards(from: 0.5, to: 0.3))
        #expect(Lifecycle.progressRefusal(-0.0001, after: 0) == .progressOutOfRange(-0.0001))
        if case .progressOutOfRange(let f)? = Lifecycle.progressRefusal(.nan, after: 0) { #expect(f.isNaN) } else { Issue.record("NaN accepted") }
    }
}
