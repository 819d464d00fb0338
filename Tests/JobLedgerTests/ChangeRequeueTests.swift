@testable import JobLedger
import Testing

/// `Change.describe` of a requeue: its `max_attempts` is how many attempts it adds, and the line
/// said "up to 2 attempts" of a retry that took a job that had used 1 to 3 in all (the jobs
/// table, and the next `started` line, said 3).
@Suite struct ChangeRequeueTests {
    let job = try! JobID("requeued")
    func at(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: 1_000_000 + ms) }

    @Test func aRequeueSaysTheAttemptsItAddsAndTheNewLimit() throws {
        let first = EventPayload.queued(.init(kind: "design", maxAttempts: 2))
        var s = try Lifecycle.begin(job: job, with: first, at: at(0))
        #expect(Change.describe(before: nil, after: s, payload: first) == "new → queued: kind design, priority 0, up to 2 attempts")
        try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(100_000))), at: at(10))
        try s.apply(.failed(.init(code: "bad", message: "bad input", retryable: false, attempt: 1)), at: at(20))
        let before = s
        let requeue = EventPayload.queued(.init(kind: "design", maxAttempts: 2))
        try s.apply(requeue, at: at(30))
        #expect(s.maxAttempts == 3)
        #expect(Change.describe(before: before, after: s, payload: requeue) == "failed → queued: kind design, priority 0, 2 more attempts, now up to 3")
        try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(100_000))), at: at(40))
        try s.apply(.failed(.init(code: "bad", message: "bad input", retryable: false, attempt: 2)), at: at(50))
        let again = s, one = EventPayload.queued(.init(kind: "design", maxAttempts: 1))
        try s.apply(one, at: at(60))
        #expect(Change.describe(before: again, after: s, payload: one) == "failed → queued: kind design, priority 0, 1 more attempt, now up to 3")
    }
}
