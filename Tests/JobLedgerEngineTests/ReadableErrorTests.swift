import JobLedger
import JobLedgerEngine
import Testing

/// Failures and handler errors print as one line a person can read (logs, `print`, test output).
@Suite struct ReadableFailureTests {
    @Test func aJobFailurePrintsItsCodeMessageAttemptAndWhetherItIsRetryable() {
        #expect("\(JobFailure(code: "oom", message: "out of memory", retryable: true, attempt: 2))"
            == "oom: out of memory (attempt 2, retryable)")
        #expect("\(JobFailure(code: "lease_expired", message: "", retryable: true, attempt: 1))"
            == "lease_expired (attempt 1, retryable)")
        #expect(String(describing: JobFailure(code: "bad_input", message: "no prompt", retryable: false, attempt: 3))
            == "bad_input: no prompt (attempt 3, not retryable)")
    }

    @Test func aJobErrorPrintsItsCodeMessageAndWhetherItIsRetryable() {
        let e: any Error = JobError(code: "busy", message: "GPU queue full", retryable: true)
        #expect("\(e)" == "busy: GPU queue full (retryable)")
        #expect("\(JobError(code: "bad_input", message: "", retryable: false))" == "bad_input (not retryable)")
    }
}
