import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// What a caller passes to an engine call is refused in the caller's terms: `retry(_:attempts:)`
/// named the requeue's payload field (`'max_attempts' must be in 1…1000`), which the caller
/// never wrote; `wait(for:)` on an unknown job said "cannot apply 'queued'", which the caller
/// never applied.
@Suite struct EngineCallArgumentTests {
    /// A job that failed for good, on its only attempt.
    static func failedJob(_ f: Fixture, _ engine: JobEngine) async throws -> JobID {
        engine.register(kind: "k") { _ in throw JobError(code: "boom", message: "no", retryable: false) }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        try await engine.workUntilIdle()
        #expect(try engine.result(of: job)?.status == .failed)
        return job
    }

    @Test func retryWithAttemptsOutOfRangeNamesTheParameterAndWritesNothing() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let job = try await Self.failedJob(f, engine)
        let before = try f.types(job)
        for attempts in [0, -1, 1001] {
            await #expect(throws: InvalidArgument(call: "retry(_:attempts:)", parameter: "attempts", reason: "must be in 1…1000, got \(attempts)")) {
                try await engine.retry(job, attempts: attempts)
            }
        }
        #expect(try f.types(job) == before)
        #expect(InvalidArgument(call: "retry(_:attempts:)", parameter: "attempts", reason: "must be in 1…1000, got 0").description
                == "retry(_:attempts:): 'attempts' must be in 1…1000, got 0")
        try await engine.retry(job, attempts: 1000)
        #expect(try f.types(job) == before + [.queued])
    }

    @Test func waitingForAnUnknownJobSaysItDoesNotExist() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let unknown = try JobID("no-such-job")
        do {
            _ = try await engine.wait(for: unknown, timeout: .zero)
            Issue.record("waiting for an unknown job returned")
        } catch let e as LedgerError {
            // The documented error type stays: `LedgerError.rejected` with `unknownJob`.
            guard case .rejected(let refusal) = e else { Issue.record("\(e)"); return }
            #expect(refusal.rule == .unknownJob)
            #expect(refusal == .noSuchJob(unknown))
            #expect("\(e)" == "rejected: job no-such-job does not exist: no event in the log names it")
        }
        // Retrying an unknown job says it the same way.
        await #expect(throws: LedgerError.rejected(.noSuchJob(unknown))) { try await engine.retry(unknown) }
    }
}
