import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Cancelling the task of `work()` (as a service group does when another service fails) stops
/// the running handlers too. It waited for them to end on their own: a handler that ignored the
/// cancellation held the stopping group for as long as it ran, and none of them saw it.
@Suite(.timeLimit(.minutes(2)))
struct WorkCancellationTests {
    @Test func cancellingWorkCancelsTheHandlersAndGivesTheirAttemptsBack() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Gate(), sawCancel = Gate()
        engine.register(kind: "k") { ctx in
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            sawCancel.release()
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        let work = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("the handler to start") { started.isOpen }
        work.cancel()
        try await work.value
        #expect(sawCancel.isOpen, "the handler saw the cancellation")
        #expect(try f.types(job) == [.queued, .started, .failed])
        // Given back, as in a shutdown: queued again, even with one attempt.
        let state = try #require(try engine.state(of: job))
        #expect(state.status == .queued && state.lastError?.code == "worker_shutdown", "\(state)")
        #expect(engine.runningCount == 0)
    }

    @Test func aHandlerThatIgnoresTheCancellationIsLeftAfterTheGrace() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records) { o in
            o.cancelGrace = .milliseconds(100)
            o.logger.logLevel = .warning
        }
        let started = Gate(), release = Gate()
        engine.register(kind: "k") { _ in
            started.release()
            await until("the test to let the handler return") { release.isOpen }
            return JobCompletion(output: ["late": true])
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("the handler to start") { started.isOpen }
        work.cancel()
        try await work.value  // returns while the handler still runs: it waited for it before
        #expect(engine.runningCount == 1, "the handler, given up on, has not returned yet")
        #expect(records.all.contains { $0.level == .error && "\($0.message)".contains("did not end within") })
        release.release()
        await until("the handler to return") { engine.runningCount == 0 }
        // Its late result is not recorded: the job stays running until its lease passes.
        #expect(try f.types(job) == [.queued, .started])
    }
}
