import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A kind's `timeout`: an attempt still running past it is cancelled and recorded as a retryable
/// `timeout` failure, on the injected clock (nothing here waits on the wall clock for it).
@Suite(.timeLimit(.minutes(1)))
struct TimeoutTests {
    @Test func anAttemptPastItsTimeoutIsCancelledAndRecordedAsATimeout() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Gate()
        engine.register(kind: "k", retry: RetryPolicy(baseMilliseconds: 1000), timeout: .seconds(10)) { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 2)
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        f.clock.advance(milliseconds: 9_000)
        #expect(try engine.state(of: job)?.status == .running)  // not yet: 9 s of 10
        f.clock.advance(milliseconds: 1_000)
        _ = try await work.value
        await until("the timeout to be recorded") { (try? engine.state(of: job))?.status == .queued }
        let s = try #require(try engine.state(of: job))
        #expect(s.lastError?.code == "timeout" && s.lastError?.retryable == true)
        #expect(s.attempt == 1 && s.maxAttempts == 2)  // a timeout uses its attempt up
        #expect(try f.types(job) == [.queued, .started, .failed])
    }

    /// A millisecond short of its timeout the handler is still left alone (a watchdog that woke
    /// early, or counted in the wrong unit, would cancel it), and it completes.
    @Test func aHandlerThatFinishesWithinItsTimeoutIsNotTouched() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Gate(), release = Gate(), cancelled = Gate()
        engine.register(kind: "k", timeout: .seconds(10)) { ctx in
            started.release()
            await until("the test to let the handler return") { release.isOpen || ctx.isCancelled }
            if ctx.isCancelled { cancelled.release(); throw CancellationError() }
            return JobCompletion(output: ["ok": true])
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        f.clock.advance(milliseconds: 9_999)
        release.release()
        _ = try await work.value
        #expect(!cancelled.isOpen)
        #expect(try engine.state(of: job)?.status == .completed)
        f.clock.advance(milliseconds: 60_000)  // the watchdog, had it been left behind, would act now
        #expect(try await engine.tick() == 0)
        #expect(try f.types(job) == [.queued, .started, .completed])
    }

    /// One that ignores the cancellation is recorded as timed out once `cancelGrace` has passed
    /// too; what it returns afterwards is not recorded, and its slot is freed when it returns.
    @Test func aHandlerThatIgnoresTheCancellationIsRecordedAsTimedOutAfterTheGrace() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records) { o in
            o.cancelGrace = .seconds(5)
            o.logger.logLevel = .warning
        }
        let started = Gate(), cancelled = Gate(), release = Gate()
        engine.register(kind: "k", timeout: .seconds(10)) { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            cancelled.release()
            await until("the test to let the handler return") { release.isOpen }
            return JobCompletion(output: ["late": true])
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        f.clock.advance(milliseconds: 10_000)
        await until("the timeout to cancel the handler") { cancelled.isOpen }
        #expect(try engine.state(of: job)?.status == .running)  // within the grace: nothing recorded yet
        f.clock.advance(milliseconds: 5_000)
        await until("the timeout to be recorded") { (try? engine.state(of: job))?.status == .failed }
        #expect(try engine.state(of: job)?.lastError?.code == "timeout")
        release.release()
        _ = try await work.value
        #expect(try await engine.tick() == 0)
        await until("the slot to be freed") { engine.runningCount == 0 }
        #expect(try f.types(job) == [.queued, .started, .failed])  // the late result is not recorded
        #expect(records.all.contains { $0.level == .error && "\($0.message)".contains("did not stop within") })
    }

    /// A handler that stops being cooperative only so far as to finish its work when cancelled
    /// is recorded as completed: the work is done.
    @Test func aHandlerThatCompletesAfterItsTimeoutIsRecordedAsCompleted() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Gate()
        engine.register(kind: "k", timeout: .seconds(1)) { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            return JobCompletion(output: ["done": true])
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        f.clock.advance(milliseconds: 1_000)
        _ = try await work.value
        await until("the job to finish") { (try? engine.state(of: job))?.status.isTerminal == true }
        #expect(try engine.state(of: job)?.status == .completed)
    }

    /// A timeout past what milliseconds can count (and a wait as long) saturates at the end of
    /// time instead of overflowing: the job runs and is waited for as with no timeout.
    @Test func aTimeoutBeyondTheClocksRangeIsNoTimeout() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k", timeout: .seconds(Int64.max)) { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)
        #expect(try await engine.wait(for: job, timeout: .seconds(Int64.max)).status == .completed)
    }
}
