import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A handler that ignores the cancellation of its job. It kept the job `running` (and renewing
/// its lease with progress) for as long as it ran, though `cancel` had returned: now, once
/// `Options.cancelGrace` has passed, `canceled` is recorded without it, and what it reports or
/// returns later is not.
@Suite struct CancelGraceTests {
    @Test func aHandlerThatIgnoresCancelIsRecordedAsCanceledAfterTheGrace() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records) { o in
            o.cancelGrace = .seconds(5)
            o.progressIntervalMilliseconds = 0
            o.logger.logLevel = .warning
        }
        let started = Gate(), cancelled = Gate(), release = Gate()
        let lateProgress = Recorder<String>()
        engine.register(kind: "k") { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            cancelled.release()
            try await ctx.progress(0.5)  // within the grace: still its attempt's
            await until("the test to let the handler return") { release.isOpen }
            do { try await ctx.progress(0.9) } catch { lateProgress.add("\(type(of: error))") }
            return JobCompletion(output: ["late": true])
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        try await engine.cancel(job, reason: "user closed the tab")
        await until("the handler to see its cancellation") { cancelled.isOpen }
        await until("its progress") { (try? f.types(job)) == [.queued, .started, .progress] }
        #expect(try engine.state(of: job)?.status == .running)  // within the grace: nothing recorded yet
        f.clock.advance(milliseconds: 5_000)
        await until("the cancellation to be recorded") { (try? engine.state(of: job))?.status == .canceled }
        #expect(try engine.state(of: job)?.cancelReason == "user closed the tab")
        release.release()
        _ = try await work.value
        #expect(lateProgress.all == ["ClaimLost"])
        #expect(try f.types(job) == [.queued, .started, .progress, .canceled])  // the late result is not recorded
        #expect(engine.runningCount == 0)
        #expect(records.all.contains { $0.level == .error && "\($0.message)".contains("did not stop within") })
    }

    /// A handler that stops when cancelled is recorded as canceled when it returns, and the
    /// grace's end changes nothing.
    @Test func aHandlerThatStopsIsRecordedOnce() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Gate()
        engine.register(kind: "k") { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        try await engine.cancel(job, reason: "r")
        _ = try await work.value
        f.clock.advance(milliseconds: 60_000)
        #expect(try await engine.tick() == 0)
        #expect(try f.types(job) == [.queued, .started, .canceled])
    }

    /// `cancel` says whether it cancelled anything: a finished job is left as it is, and a
    /// caller could not tell that from a cancel that took effect (both returned nothing).
    @Test func cancelSaysWhetherItCancelledAnything() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion() }
        let done = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)
        let queued = try await engine.submit(kind: "k")
        #expect(try await engine.cancel(done) == false)
        #expect(try await engine.cancel(queued) == true)
        #expect(try await engine.cancel(queued) == false, "already canceled")
        #expect(try f.types(done) == [.queued, .started, .completed])
    }
}
