@testable import JobLedger
import Testing

/// `Change.describe` of a `failed` event that gives its attempt back (a worker's shutdown cut it
/// short): the history line says so, and the new number of attempts.
@Suite struct ChangeRefundTests {
    let job = try! JobID("given-back")
    func at(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: 1_000_000 + ms) }

    func running() throws -> JobState {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: 3)), at: at(0))
        try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(100_000))), at: at(10))
        return s
    }

    @Test func aGivenBackAttemptIsSaid() throws {
        let before = try running()
        var after = before
        let shutdown = EventPayload.failed(.init(code: "worker_shutdown", message: "the worker shut down", retryable: true,
                                                 attempt: 1, refundsAttempt: true))
        try after.apply(shutdown, at: at(20))
        #expect(after.maxAttempts == 4)
        let line = Change.describe(before: before, after: after, payload: shutdown)
        #expect(line.contains("(retryable; attempt given back, now up to 4 attempts; next attempt 2 not before"), "\(line)")
    }

    @Test func anOrdinaryRetryDoesNotSayItWasGivenBack() throws {
        let before = try running()
        var after = before
        let failed = EventPayload.failed(.init(code: "oom", message: "out of memory", retryable: true, attempt: 1))
        try after.apply(failed, at: at(20))
        let line = Change.describe(before: before, after: after, payload: failed)
        #expect(line.contains("(retryable; next attempt 2 not before"), "\(line)")
        #expect(!line.contains("given back"), "\(line)")
    }
}
