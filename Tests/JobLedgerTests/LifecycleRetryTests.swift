@testable import JobLedger
import Testing

/// A retryable failure puts the job back in the queue for its next attempt. No attempt runs
/// then, so the job shows no progress: the failed attempt's figure and note stay in its own
/// events, not in the state of the attempt to come.
@Suite struct LifecycleRetryTests {
    let job = try! JobID("retried")
    func at(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: 1_000_000 + ms) }
    let preview = AssetRef(sha256: String(repeating: "a", count: 64), size: 3, contentType: "image/png")

    /// Attempt 1 of `maxAttempts` at 60% with a note and a preview.
    func runningAt60(maxAttempts: Int = 3) throws -> JobState {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: maxAttempts)), at: at(0))
        try s.apply(.started(.init(worker: "w1", attempt: 1, leaseDeadline: at(60_000))), at: at(10))
        try s.apply(.progress(.init(fraction: 0.6, message: "pass 3", attempt: 1)), at: at(20))
        try s.apply(.lowres(.init(asset: preview, attempt: 1)), at: at(25))
        return s
    }

    @Test(arguments: ["render_timeout", "lease_expired", "worker_shutdown"])
    func aRetryStartsFromNoProgress(_ code: String) throws {
        var s = try runningAt60()
        try s.apply(.failed(.init(code: code, message: "cut short", retryable: true, attempt: 1,
                                  refundsAttempt: code == "worker_shutdown")), at: at(30))
        #expect(s.status == .queued)
        #expect(s.progress == 0)
        #expect(s.progressMessage == nil)
        // What is not the attempt's progress is kept: the reason, and the last preview.
        #expect(s.lastError?.code == code)
        #expect(s.preview == preview)
        try s.apply(.started(.init(worker: "w2", attempt: 2, leaseDeadline: at(90_000))), at: at(40))
        #expect(s.progress == 0 && s.progressMessage == nil)
        // The new attempt's own progress starts from 0, not from the old one's 60%.
        try s.apply(.progress(.init(fraction: 0.1, attempt: 2)), at: at(50))
        #expect(s.progress == 0.1)
    }

    /// A job that failed for good keeps the figure it failed at; a requeue resets it.
    @Test func aFinalFailureKeepsItsFigure() throws {
        var s = try runningAt60(maxAttempts: 1)
        try s.apply(.failed(.init(code: "oom", message: "out of memory", retryable: true, attempt: 1)), at: at(30))
        #expect(s.status == .failed)
        #expect(s.progress == 0.6 && s.progressMessage == "pass 3")
        try s.apply(.queued(.init(kind: "design")), at: at(40))
        #expect(s.progress == 0 && s.progressMessage == nil)
    }

    /// The fold every reader shares gives the same state as the lifecycle applied by hand.
    @Test func theFoldAgrees() throws {
        var fold = LedgerFold()
        var byHand = try runningAt60()
        let events: [EventPayload] = [
            .queued(.init(kind: "design", maxAttempts: 3)),
            .started(.init(worker: "w1", attempt: 1, leaseDeadline: at(60_000))),
            .progress(.init(fraction: 0.6, message: "pass 3", attempt: 1)),
            .lowres(.init(asset: preview, attempt: 1)),
        ]
        let times: [Int64] = [0, 10, 20, 25]
        for (i, (payload, t)) in zip(events, times).enumerated() {
            try fold.apply(job: job, payload: payload, at: at(t), seq: Int64(i + 1))
        }
        let failed = EventPayload.failed(.init(code: "x", message: "boom", retryable: true, attempt: 1))
        let folded = try fold.apply(job: job, payload: failed, at: at(30), seq: 5)
        try byHand.apply(failed, at: at(30))
        #expect(folded == byHand)
        #expect(fold.state(of: job)?.progress == 0)
    }
}
