import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

final class Gate: Sendable {
    private let open = Mutex(false)
    func release() { open.withLock { $0 = true } }
    var isOpen: Bool { open.withLock { $0 } }
}

/// A job of kind `k` whose handler waits for its cancellation, run on `engine` and cut off by a
/// shutdown with no drain time: the shutdown's `worker_shutdown` is what the log then holds.
func jobInterruptedByShutdown(_ engine: JobEngine, maxAttempts: Int = 3) async throws -> JobID {
    let started = Recorder<JobID>()
    engine.register(kind: "k") { ctx in
        started.add(ctx.job)
        await until("the handler's cancellation") { ctx.isCancelled }
        throw CancellationError()
    }
    let job = try await engine.submit(kind: "k", maxAttempts: maxAttempts)
    let work = Task { try await engine.tick() }
    await until { !started.all.isEmpty }
    await engine.shutdown(drain: .zero)
    _ = try await work.value
    return job
}

@Suite struct ShutdownTests {
    /// The handler honours cancellation, and is let through only after shutdown has begun and
    /// has had ample time to cancel it: with a drain of 0 it would be cancelled and the job
    /// requeued; within the drain time it finishes and completes.
    @Test func shutdownLetsARunningHandlerFinishWithinTheDrainTime() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let gate = Gate()
        let started = Recorder<JobID>()
        let cancelled = Gate()
        engine.register(kind: "k") { ctx in
            started.add(ctx.job)
            while !gate.isOpen {
                if ctx.isCancelled { cancelled.release(); throw CancellationError() }
                await Task.yield()
            }
            return JobCompletion(output: ["finished": true])
        }
        let job = try await engine.submit(kind: "k")
        let later = try await engine.submit(kind: "k", runAt: f.clock.now().adding(milliseconds: 1))
        let work = Task { try await engine.tick() }
        await until("the handler to start") { !started.all.isEmpty }
        let stopping = Task { await engine.shutdown(drain: .seconds(60)) }
        await until("shutdown to begin") { engine.isDraining }
        // A shutdown that did not drain would cancel the handler at once; give it every chance.
        let watch = ContinuousClock.now.advanced(by: .milliseconds(500))
        while ContinuousClock.now < watch && !cancelled.isOpen { await Task.yield() }
        #expect(!cancelled.isOpen, "a draining shutdown must not cancel a handler within the drain time")
        gate.release()
        await stopping.value
        _ = try await work.value
        #expect(try engine.result(of: job)?.status == .completed)
        f.clock.advance(milliseconds: 10)
        #expect(try await engine.tick() == 0)  // a draining engine claims nothing more
        #expect(try engine.state(of: later)?.status == .queued)
    }

    @Test func shutdownCancelsWhatOutlivesTheDrainAndRecordsItForRetry() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let job = try await jobInterruptedByShutdown(engine)
        let s = try #require(try engine.state(of: job))
        #expect(s.status == .queued)
        #expect(s.lastError?.code == "worker_shutdown")
        #expect(try f.types(job) == [.queued, .started, .failed])
    }

    /// A job on its last attempt that a shutdown interrupts is not failed for good: the attempt
    /// is given back, and the next engine runs it.
    @Test func aShutdownDoesNotUseUpTheLastAttempt() async throws {
        let f = try Fixture()
        let first = f.engine()
        let job = try await jobInterruptedByShutdown(first, maxAttempts: 1)
        let s = try #require(try first.state(of: job))
        #expect(s.status == .queued && s.attempt == 1 && s.maxAttempts == 2)
        let next = f.engine("w2")
        next.register(kind: "k") { _ in JobCompletion() }
        #expect(try await next.tick() == 1)
        #expect(try next.state(of: job)?.status == .completed)
    }

    /// A claim that a cancelled task makes (the service group stopping because another service
    /// failed) ends in GRDB's CancellationError, which is no storage trouble: nothing is
    /// logged, and the job stays queued for the next claim. (Another connection holds the write
    /// lock, so the claim takes the path that waits, where the cancellation is seen.)
    @Test func aClaimCutShortByCancellationIsNotLoggedAsAFailure() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records)
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        let lock = try FencingEngineTests.WriteLock(f.dir.path("jobs.sqlite"))
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await engine.tick()
        }
        #expect(try await cancelled.value == 0)
        try lock.release()
        #expect(records.all.filter { $0.level >= .warning }.map(\.message) == [])
        #expect(try engine.state(of: job)?.status == .queued)
        #expect(try await engine.tick() == 1)
        #expect(try engine.state(of: job)?.status == .completed)
    }
}

/// A handler that ignores cancellation cannot be stopped; it must not stop the shutdown either.
/// Past the drain and the cancel grace, `shutdown` and `work` return, say which job was left,
/// and the job stays `running` for the lease sweep.
@Suite(.timeLimit(.minutes(1)))
struct StuckHandlerShutdownTests {
    @Test func aHandlerThatIgnoresCancellationDoesNotHoldTheShutdownUp() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records) { o in
            o.drainTimeout = .milliseconds(50)
            o.cancelGrace = .milliseconds(200)
            o.logger.logLevel = .warning
        }
        let started = Gate()
        let release = Gate()
        engine.register(kind: "stuck") { _ in
            started.release()
            // Deaf to cancellation until the test lets it go (after the shutdown has returned).
            while !release.isOpen { try? await Task.sleep(for: .milliseconds(5)) }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "stuck")
        let work = Task { try await engine.work() }
        await until("the handler to start") { started.isOpen }
        await engine.shutdown(drain: engine.options.drainTimeout)
        try await work.value
        #expect(try engine.state(of: job)?.status == .running, "the job is left to the lease sweep")
        #expect(records.all.contains { $0.level == .error && $0.message.contains("did not end within") && $0.message.contains(job.rawValue) },
                "\(records.all.map(\.message))")
        // What it returns after the shutdown gave up on it is not recorded: it was written as
        // `completed`, past the shutdown (and, with a short lease, past the lease).
        release.release()
        await until("the handler to return and its attempt to end") { engine.runningCount == 0 }
        #expect(try engine.state(of: job)?.status == .running)
        #expect(try engine.history(of: job).map(\.type) == [.queued, .started])
    }
}

/// An engine that was shut down claims nothing again; `work()` and `workUntilIdle()` on it
/// returned at once without a word while the jobs stayed queued. They say so now.
@Suite(.timeLimit(.minutes(1)))
struct WorkAfterShutdownTests {
    @Test func workingAShutDownEngineSaysItClaimsNothing() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = f.engine("w", logInto: records) { o in o.logger.logLevel = .warning }
        engine.register(kind: "k") { _ in JobCompletion() }
        await engine.shutdown(drain: .zero)
        let job = try await engine.submit(kind: "k")
        try await engine.workUntilIdle()
        #expect(try engine.state(of: job)?.status == .queued)
        #expect(records.all.contains { $0.level == .warning && $0.message.contains("workUntilIdle() on an engine that was shut down") },
                "\(records.all.map(\.message))")
    }
}
