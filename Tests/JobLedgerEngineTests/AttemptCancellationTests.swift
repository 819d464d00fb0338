import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// `JobContext.cancellation` says why an attempt is asked to stop. `isCancelled` alone left a
/// handler unable to tell a user's cancel from a timeout, a lost claim or a shutdown, which
/// end differently (a `canceled` event, a retryable `timeout`, nothing, `worker_shutdown`).
@Suite(.timeLimit(.minutes(1)))
struct AttemptCancellationTests {
    /// Runs one attempt of kind `k` on `engine` whose handler waits for its cancellation and
    /// reports what `cancellation` said before and after it; `stop` cancels it somehow.
    func seen(_ f: Fixture, _ engine: JobEngine, timeout: Duration? = nil,
              stop: @escaping @Sendable (JobID) async throws -> Void) async throws -> [String] {
        let seen = Recorder<String>()
        let started = Gate()
        engine.register(kind: "k", timeout: timeout) { ctx in
            seen.add("before: \(ctx.cancellation.map(\.description) ?? "none")")
            started.release()
            await until("the handler's cancellation") { ctx.isCancelled }
            seen.add("after: \(ctx.cancellation.map(\.description) ?? "none")")
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 2)
        let work = Task { try await engine.tick() }
        await until("the handler to start") { started.isOpen }
        try await stop(job)
        _ = try await work.value
        return seen.all
    }

    @Test func aCancelSaysSoWithItsReason() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let seen = try await seen(f, engine) { job in try await engine.cancel(job, reason: "user closed the tab") }
        #expect(seen == ["before: none", "after: canceled: user closed the tab"])
    }

    @Test func aTimeoutSaysSo() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let seen = try await seen(f, engine, timeout: .seconds(10)) { _ in f.clock.advance(milliseconds: 10_000) }
        #expect(seen == ["before: none", "after: timed out"])
    }

    @Test func aShutdownSaysSo() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let seen = try await seen(f, engine) { _ in await engine.shutdown(drain: .zero) }
        #expect(seen == ["before: none", "after: shutdown"])
    }

    /// A worker whose lease ran out while it was paused: another requeued the job and ran it.
    @Test func aLostClaimSaysSo() async throws {
        let f = try Fixture()
        let a = f.engine("A")
        let b = try f.engineOnAnotherLedger("B")
        let frozen = Gate(), entered = Gate()
        let seen = Recorder<String>()
        a.register(kind: "k") { ctx in
            entered.release()
            while !frozen.isOpen { await Task.yield() }
            do { try await ctx.progress(0.9) } catch is ClaimLost { seen.add("lost") }
            seen.add(ctx.cancellation.map(\.description) ?? "none")
            return JobCompletion()
        }
        b.register(kind: "k") { _ in JobCompletion() }
        _ = try await a.submit(kind: "k")
        let work = Task { try await a.tick() }
        await until("A's handler to start") { entered.isOpen }
        f.clock.advance(milliseconds: 31_000)
        #expect(try await b.tick() == 1)
        frozen.release()
        _ = try await work.value
        #expect(seen.all.count == 2 && seen.all[0] == "lost" && seen.all[1].hasPrefix("claim lost: "), "\(seen.all)")
    }

    /// A context kept past its attempt's end (captured by a task of the handler's own) no
    /// longer holds the job.
    @Test func aContextKeptPastItsAttemptHasLostItsClaim() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let kept = Recorder<JobContext>()
        engine.register(kind: "k") { ctx in kept.add(ctx); return JobCompletion() }
        let job = try await engine.submit(kind: "k")
        #expect(try await engine.tick() == 1)
        let ctx = try #require(kept.all.first)
        #expect(ctx.cancellation == .claimLost(reason: "attempt 1 of job \(job) is no longer running in this engine"))
    }
}
