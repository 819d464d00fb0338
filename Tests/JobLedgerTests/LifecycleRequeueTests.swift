@testable import JobLedger
import Testing

/// The one event a terminal state accepts: `queued` on a failed job of the same kind.
@Suite struct LifecycleRequeueTests {
    let job = try! JobID("dead-letter")
    func at(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: 1_000_000 + ms) }

    func failedJob() throws -> JobState {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", input: ["v": 1], maxAttempts: 2)), at: at(0))
        for attempt in 1...2 {
            try s.apply(.started(.init(worker: "w", attempt: attempt, leaseDeadline: at(100_000))), at: at(Int64(attempt) * 10))
            try s.apply(.failed(.init(code: "oom", message: "out of memory", retryable: true, attempt: attempt)), at: at(Int64(attempt) * 10 + 5))
        }
        #expect(s.status == .failed)
        return s
    }

    @Test func aFailedJobIsRequeuedWithMoreAttempts() throws {
        var s = try failedJob()
        try s.apply(.queued(.init(kind: "design", input: ["v": 2], priority: 9, maxAttempts: 3, runAt: at(500))), at: at(100))
        #expect(s.runAt == at(500))
        #expect(s.status == .queued)
        #expect(s.attempt == 2 && s.maxAttempts == 5)
        #expect(s.input == ["v": 2] && s.priority == 9)
        #expect(s.finishedAt == nil)
        #expect(s.lastError?.code == "oom")  // history kept
        try s.apply(.started(.init(worker: "w", attempt: 3, leaseDeadline: at(100_000))), at: at(500))
        #expect(s.status == .running)
    }

    @Test func aRequeueOfAnotherKindIsRefused() throws {
        var s = try failedJob()
        let before = s
        #expect(throws: LifecycleError(job: job, state: .failed, event: .queued, rule: .kindMismatch(expected: "design", got: "resize"))) {
            try s.apply(.queued(.init(kind: "resize")), at: at(100))
        }
        #expect(s == before)
    }

    @Test func completedAndCanceledJobsCannotBeRequeued() throws {
        var c = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design")), at: at(0))
        try c.apply(.canceled(.init(reason: "no")), at: at(1))
        #expect(throws: LifecycleError(job: job, state: .canceled, event: .queued, rule: .terminal)) {
            try c.apply(.queued(.init(kind: "design")), at: at(2))
        }
    }

    @Test func theFoldKeepsFailedJobsRequeueable() throws {
        var fold = LedgerFold()
        try fold.apply(job: job, payload: .queued(.init(kind: "design", maxAttempts: 1)), at: at(0), seq: 1)
        try fold.apply(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: at(9))), at: at(1), seq: 2)
        try fold.apply(job: job, payload: .failed(.init(code: "x", message: "", retryable: false, attempt: 1)), at: at(2), seq: 3)
        #expect(fold.failed[job]?.status == .failed && fold.active[job] == nil)
        let s = try fold.apply(job: job, payload: .queued(.init(kind: "design")), at: at(3), seq: 4)
        #expect(s.status == .queued && fold.active[job] != nil && fold.failed[job] == nil)
        #expect(fold.version(of: job) == 4)
    }

    /// A worker's graceful shutdown gives the attempt back: on the job's last attempt the job is
    /// requeued (not failed for good), with one attempt more, and attempt numbers still rise.
    @Test func anAttemptCutShortByShutdownIsGivenBack() throws {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: 1)), at: at(0))
        for attempt in 1...3 {
            try s.apply(.started(.init(worker: "w", attempt: attempt, leaseDeadline: at(100_000))), at: at(Int64(attempt) * 10))
            try s.apply(.failed(.init(code: "worker_shutdown", message: "", retryable: true, attempt: attempt, refundsAttempt: true)),
                        at: at(Int64(attempt) * 10 + 5))
            #expect(s.status == .queued)
            #expect(s.attempt == attempt && s.maxAttempts == attempt + 1)
        }
        // An ordinary failure of the attempt after them uses it up: the job has none left.
        try s.apply(.started(.init(worker: "w", attempt: 4, leaseDeadline: at(100_000))), at: at(100))
        try s.apply(.failed(.init(code: "oom", message: "", retryable: true, attempt: 4)), at: at(105))
        #expect(s.status == .failed && s.maxAttempts == 4)
    }

    /// Past the cap on attempts no attempt could start: there the attempt is not given back,
    /// and a job on its last attempt fails instead of being stuck queued for ever.
    @Test func noAttemptIsGivenBackPastTheCap() throws {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: 1000)), at: at(0))
        s.attempt = 999
        try s.apply(.started(.init(worker: "w", attempt: 1000, leaseDeadline: at(100_000))), at: at(10))
        try s.apply(.failed(.init(code: "worker_shutdown", message: "", retryable: true, attempt: 1000, refundsAttempt: true)), at: at(20))
        #expect(s.maxAttempts == 1000 && s.status == .failed)
    }

    /// A job's attempt numbers stop at 1000: a requeue near the cap gets only the attempts left,
    /// and a job that has had them all is not requeued (its next `started` could never be
    /// written, so it would sit in the queue for ever).
    @Test func aRequeueStopsAtTheCapOnAttempts() throws {
        func failed(after attempts: Int) throws -> JobState {
            var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: attempts)), at: at(0))
            s.attempt = attempts - 1
            try s.apply(.started(.init(worker: "w", attempt: attempts, leaseDeadline: at(100_000))), at: at(10))
            try s.apply(.failed(.init(code: "oom", message: "", retryable: false, attempt: attempts)), at: at(20))
            #expect(s.status == .failed)
            return s
        }
        var near = try failed(after: 998)
        try near.apply(.queued(.init(kind: "design", maxAttempts: 5)), at: at(30))
        #expect(near.status == .queued && near.maxAttempts == 1000)
        try near.apply(.started(.init(worker: "w", attempt: 999, leaseDeadline: at(100_000))), at: at(40))

        var spent = try failed(after: 1000)
        let before = spent
        #expect(throws: LifecycleError(job: job, state: .failed, event: .queued, rule: .attemptsExhausted(attempts: 1000))) {
            try spent.apply(.queued(.init(kind: "design", maxAttempts: 1)), at: at(30))
        }
        #expect(spent == before)
        let refusal = LifecycleError(job: job, state: .failed, event: .queued, rule: .attemptsExhausted(attempts: 1000))
        #expect(refusal.description.contains("1000 attempts"))
    }

    @Test func onlyARetryableFailureGivesItsAttemptBack() throws {
        let bad = EventPayload.failed(.init(code: "x", message: "", retryable: false, attempt: 1, refundsAttempt: true))
        #expect(throws: PayloadError.self) { try bad.validate() }
        #expect(throws: PayloadError.self) {
            try EventPayload.decode(type: .failed, text: #"{"code":"x","retryable":false,"attempt":1,"refunds_attempt":true}"#)
        }
        #expect(throws: PayloadError.self) {
            try EventPayload.decode(type: .failed, text: #"{"code":"x","retryable":true,"attempt":1,"refunds_attempt":"yes"}"#)
        }
    }
}
