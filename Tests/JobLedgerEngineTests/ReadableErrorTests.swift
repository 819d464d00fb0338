import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Failures and handler errors print as one line a person can read (logs, `print`, test output).
@Suite struct ReadableFailureTests {
    @Test func aJobFailurePrintsItsCodeMessageAttemptAndWhetherItIsRetryable() {
        #expect("\(JobFailure(code: "oom", message: "out of memory", retryable: true, attempt: 2))"
            == "oom: out of memory (attempt 2, retryable error)")
        #expect("\(JobFailure(code: "lease_expired", message: "", retryable: true, attempt: 1))"
            == "lease_expired (attempt 1, retryable error)")
        #expect(String(describing: JobFailure(code: "bad_input", message: "no prompt", retryable: false, attempt: 3))
            == "bad_input: no prompt (attempt 3, not retryable)")
    }

    /// A job that failed for good on a retryable error showed `handler_error: Boom() (attempt 3,
    /// retryable)`, which reads as if another attempt were coming. The flag is the error's own:
    /// it says so, and where the failure ended the job, that no attempts were left.
    @Test func theFailureThatEndedAJobSaysNoAttemptsWereLeft() async throws {
        struct Boom: Error {}
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k", retry: RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0)) { _ in throw Boom() }
        let job = try await engine.submit(kind: "k", maxAttempts: 3)
        try await engine.workUntilIdle()
        let s = try #require(try engine.result(of: job))
        let last = try #require(s.lastError)
        #expect(s.status == .failed && last.retryable && last.attempt == 3)
        #expect("\(last)" == "handler_error: Boom() (attempt 3, retryable error)")
        #expect(last.description(endedJob: true) == "handler_error: Boom() (attempt 3, retryable error, but no attempts left)")
        #expect("\(TypedJobError.failed(job: job, last))" == "job \(job) failed: handler_error: Boom() (attempt 3, retryable error, but no attempts left)")
        let refused = JobFailure(code: "bad_input", message: "", retryable: false, attempt: 1)
        #expect(refused.description(endedJob: true) == "bad_input (attempt 1, not retryable)")
    }

    @Test func aJobErrorPrintsItsCodeMessageAndWhetherItIsRetryable() {
        let e: any Error = JobError(code: "busy", message: "GPU queue full", retryable: true)
        #expect("\(e)" == "busy: GPU queue full (retryable)")
        #expect("\(JobError(code: "bad_input", message: "", retryable: false))" == "bad_input (not retryable)")
    }
}
