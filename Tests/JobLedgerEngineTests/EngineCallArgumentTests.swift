import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// What a caller passes to an engine call is refused in the caller's terms: `retry(_:attempts:)`
/// named the requeue's payload field (`'max_attempts' must be in 1…1000`), which the caller
/// never wrote.
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
}
