import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A kind registered with a concurrency below 1 or a timeout that is not positive stopped the
/// program with a precondition, so a per-kind limit read from a configuration file killed the
/// service. Now `register` remembers the refusal and every way of working throws it, naming the
/// kind and the parameter, as it does for `Options.concurrency = 0`.
@Suite struct InvalidRegistrationTests {
    @Test func aConcurrencyOfZeroIsThrownByEveryWayOfWorkingAndClaimsNothing() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k", concurrency: 0) { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        let refusal = InvalidEngineOptions(kind: "k", parameter: "concurrency", reason: "must be at least 1 (nil: no limit of its own), got 0")
        await #expect(throws: refusal) { try await engine.workUntilIdle() }
        await #expect(throws: refusal) { try await engine.work() }
        await #expect(throws: refusal) { try await engine.tick() }
        await #expect(throws: refusal) { try await engine.run() }
        #expect(try f.types(job) == [.queued])
        #expect(refusal.description == "invalid registration of kind 'k': 'concurrency' must be at least 1 (nil: no limit of its own), got 0")
    }

    @Test func aTimeoutOfZeroIsThrownNamingTheKindAndTheParameter() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "render", timeout: .zero) { _ in JobCompletion() }
        let job = try await engine.submit(kind: "render")
        await #expect(throws: InvalidEngineOptions(kind: "render", parameter: "timeout", reason: "must be positive (nil: none), got 0.0 seconds")) {
            try await engine.workUntilIdle()
        }
        #expect(try f.types(job) == [.queued])
    }

    /// `RetryPolicy`'s fields are `var`s: a negative one made the jitter's range impossible and
    /// stopped the process at the kind's first failure.
    @Test func aRetryPolicyWithANegativeFieldIsRefused() async throws {
        let f = try Fixture()
        let engine = f.engine()
        var retry = RetryPolicy()
        retry.baseMilliseconds = -1
        engine.register(kind: "k", retry: retry) { _ in throw JobError(code: "boom", message: "", retryable: true) }
        let job = try await engine.submit(kind: "k")
        await #expect(throws: InvalidEngineOptions(kind: "k", parameter: "retry", reason: "must have a baseMilliseconds of zero or more, got -1")) {
            try await engine.workUntilIdle()
        }
        #expect(try f.types(job) == [.queued])
    }

    /// Registering the kind again with usable values clears the refusal.
    @Test func registeringTheKindAgainClearsTheRefusal() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k", concurrency: -2) { _ in JobCompletion() }
        engine.register(kind: "k", concurrency: 1) { _ in JobCompletion(output: ["ok": true]) }
        let job = try await engine.submit(kind: "k")
        try await engine.workUntilIdle()
        #expect(try engine.result(of: job)?.status == .completed)
    }
}
