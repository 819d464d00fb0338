import Testing
@testable import JobLedger

// MARK: - Individual rules

@Suite("Lifecycle rules")
struct LifecycleRuleTests {
    @Test("started must carry attempt + 1")
    func startedAttemptMustBeNext() throws {
        let q = try queuedJob()
        for bad in [0, 2, 3, -1] {
            var s = q
            let e = lifecycleError { try s.apply(.started(.init(worker: "w", attempt: bad, leaseDeadline: at(60_000))), at: at(5_000)) }
            #expect(e?.rule == .attemptMismatch(expected: 1, got: bad))
            #expect(s == q)
        }
        // After a retryable failure of attempt 1, only attempt 2 starts.
        var s = try runningJob()
        try s.apply(.failed(.init(code: "x", message: "", retryable: true, attempt: 1)), at: at(5_000))
        let requeued = s
        let e = lifecycleError { try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(60_000))), at: at(6_000)) }
        #expect(e?.rule == .attemptMismatch(expected: 2, got: 1))
        #expect(s == requeued)
        try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(60_000))), at: at(6_000))
        #expect(s.attempt == 2)
        #expect(s.status == .running)
        #expect(s.startedAt == at(2_000), "startedAt is the first attempt's start")
        #expect(s.leaseDeadline == at(60_000))
    }

    @Test("started before run-at is refused; at exactly run-at it is accepted")
    func startedTooEarly() throws {
        let runAt = at(1_000)
        let q = try queuedJob(runAt: runAt)
        var s = q
        let early = at(999)
        let e = lifecycleError { try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(60_000))), at: early) }
        #expect(e?.rule == .tooEarly(notBefore: runAt, at: early))
        #expect(s == q)
        try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(60_000))), at: runAt)
        #expect(s.status == .running)
        #expect(s.startedAt == runAt)
    }

    @Test("a retry may not start before its retry time")
    func retryTooEarly() throws {
        var s = try runningJob()
        try s.apply(.failed(.init(code: "x", message: "", retryable: true, attempt: 1, retryAt: at(30_000))), at: at(5_000))
        #expect(s.runAt == at(30_000))
        let e = lifecycleError { try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(90_000))), at: at(29_999)) }
        #expect(e?.rule == .tooEarly(notBefore: at(30_000), at: at(29_999)))
        try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(90_000))), at: at(30_000))
        #expect(s.status == .running)
    }

    @Test("progress outside 0…1 is refused", arguments: [-0.000001, -1, 1.000001, 2, Double.infinity, -Double.infinity])
    func progressOutOfRange(_ f: Double) throws {
        let r = try runningJob()
        var s = r
        let e = lifecycleError { try s.apply(.progress(.init(fraction: f)), at: at(5_000)) }
        #expect(e?.rule == .progressOutOfRange(f))
        #expect(s == r)
    }

    @Test("NaN progress is refused")
    func progressNaN() throws {
        let r = try runningJob()
        var s = r
        let e = try #require(lifecycleError { try s.apply(.progress(.init(fraction: .nan)), at: at(5_000)) })
        guard case .progressOutOfRange(let f) = e.rule else {
            Issue.record("expected progressOutOfRange, got \(e.rule)")
            return
        }
        #expect(f.isNaN)
        #expect(s == r)
    }

    @Test("progress at the bounds 0 and 1 is accepted")
    func progressBounds() throws {
        var s = try runningJob()
        try s.apply(.progress(.init(fraction: 0)), at: at(5_000))
        #expect(s.progress == 0)
        try s.apply(.progress(.init(fraction: 1)), at: at(6_000))
        #expect(s.progress == 1)
        #expect(s.status == .running)
    }

    @Test("progress never goes backwards within an attempt, and resets on a new attempt")
    func progressMonotonic() throws {
        var s = try runningJob()
        try s.apply(.progress(.init(fraction: 0.5, message: "half")), at: at(3_000))
        try s.apply(.progress(.init(fraction: 0.5)), at: at(3_100))  // equal is fine
        #expect(s.progressMessage == "half", "a progress without message keeps the previous one")
        let snapshot = s
        let e = lifecycleError { try s.apply(.progress(.init(fraction: 0.4)), at: at(3_200)) }
        #expect(e?.rule == .progressBackwards(from: 0.5, to: 0.4))
        #expect(s == snapshot)

        // Retryable failure, then a new attempt: progress starts again from 0.
        try s.apply(.failed(.init(code: "x", message: "m", retryable: true, attempt: 1)), at: at(4_000))
        try s.apply(.started(.init(worker: "w9", attempt: 2, leaseDeadline: at(90_000))), at: at(4_000))
        #expect(s.progress == 0)
        #expect(s.progressMessage == nil)
        try s.apply(.progress(.init(fraction: 0.1)), at: at(4_100))
        #expect(s.progress == 0.1)
    }

    @Test("failed must carry the current attempt")
    func failedAttemptMustBeCurrent() throws {
        let r = try runningJob()
        for bad in [0, 2, 3] {
            var s = r
            let e = lifecycleError { try s.apply(.failed(.init(code: "x", message: "", retryable: true, attempt: bad)), at: at(5_000)) }
            #expect(e?.rule == (bad < 1 ? .staleClaim(attempt: bad, current: 1) : .attemptMismatch(expected: 1, got: bad)))
            #expect(s == r)
        }
    }

    @Test("retryable failure with attempts left requeues at max(retryAt, time) and keeps lastError",
          arguments: [(Int64?.none, Int64(5_000)), (Int64(4_000), Int64(5_000)), (Int64(5_000), Int64(5_000)), (Int64(9_000), Int64(9_000))])
    func retryScheduled(retryAt: Int64?, expectedRunAt: Int64) throws {
        var s = try runningJob()
        try s.apply(.failed(.init(code: "net", message: "reset", retryable: true, attempt: 1, retryAt: retryAt.map(at))), at: at(5_000))
        #expect(s.status == .queued)
        #expect(s.runAt == at(expectedRunAt))
        #expect(s.attempt == 1)
        #expect(s.worker == nil)
        #expect(s.leaseDeadline == nil)
        #expect(s.finishedAt == nil)
        let failure = JobFailure(code: "net", message: "reset", retryable: true, attempt: 1)
        #expect(s.lastError == failure)
        // lastError survives the next start.
        try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(99_000))), at: at(expectedRunAt))
        #expect(s.lastError == failure)
    }

    @Test("retryable failure on the last attempt fails the job")
    func retryableOnLastAttempt() throws {
        var s = try runningJob(maxAttempts: 2)
        try s.apply(.failed(.init(code: "a", message: "", retryable: true, attempt: 1)), at: at(3_000))
        #expect(s.status == .queued && s.runAt == at(3_000))
        try s.apply(.started(.init(worker: "w", attempt: 2, leaseDeadline: at(60_000))), at: at(3_000))
        try s.apply(.failed(.init(code: "b", message: "again", retryable: true, attempt: 2, retryAt: at(50_000))), at: at(4_000))
        #expect(s.status == .failed)
        #expect(s.attempt == 2)
        #expect(s.finishedAt == at(4_000))
        #expect(s.lastError == JobFailure(code: "b", message: "again", retryable: true, attempt: 2))
        #expect(s.runAt == at(3_000), "a final failure does not move runAt (still the retry time)")

        // max_attempts 1: the first retryable failure is final.
        var one = try runningJob(maxAttempts: 1)
        try one.apply(.failed(.init(code: "a", message: "", retryable: true, attempt: 1)), at: at(3_000))
        #expect(one.status == .failed)
    }

    @Test("non-retryable failure fails the job even with attempts left")
    func nonRetryable() throws {
        var s = try runningJob(maxAttempts: 5)
        try s.apply(.failed(.init(code: "bad_input", message: "no", retryable: false, attempt: 1, retryAt: at(9_000))), at: at(3_000))
        #expect(s.status == .failed)
        #expect(s.status.isTerminal)
        #expect(s.finishedAt == at(3_000))
        #expect(s.worker == nil)
        #expect(s.leaseDeadline == nil)
        #expect(s.lastError == JobFailure(code: "bad_input", message: "no", retryable: false, attempt: 1))
    }

    @Test("version increments by exactly one per accepted event, not at all for a refused one")
    func versionCounting() throws {
        var s = try queuedJob(maxAttempts: 3)
        #expect(s.version == 1)
        let steps: [(EventPayload, Bool)] = [
            (.progress(.init(fraction: 0.1)), false),
            (.started(.init(worker: "w", attempt: 1, leaseDeadline: at(60_000))), true),
            (.started(.init(worker: "w", attempt: 2, leaseDeadline: at(60_000))), false),
            (.progress(.init(fraction: 0.2)), true),
            (.progress(.init(fraction: 0.1)), false),
            (.lowres(.init(asset: previewAsset)), true),
            (.failed(.init(code: "x", message: "", retryable: true, attempt: 1)), true),
            (.started(.init(worker: "w", attempt: 2, leaseDeadline: at(60_000))), true),
            (.progress(.init(fraction: 0.9)), true),
            (.completed(.init()), true),
            (.canceled(.init(reason: "late")), false),
        ]
        var expected = 1
        for (i, (payload, accepted)) in steps.enumerated() {
            let time = at(2_000 + Int64(i))
            let e = lifecycleError { try s.apply(payload, at: time) }
            #expect((e == nil) == accepted, "step \(i): \(payload.type)")
            if accepted { expected += 1; #expect(s.updatedAt == time) }
            #expect(s.version == expected, "step \(i)")
        }
        #expect(s.version == 8)
        #expect(s.status == .completed)
        #expect(s.preview == previewAsset)
    }

    @Test("a whole life passes through the expected states")
    func aWholeLife() throws {
        var seen: [String] = []
        func note(_ s: JobState) { seen.append("\(s.status) a\(s.attempt) run-at \(s.runAt.milliseconds - t0.milliseconds)") }
        var s = try Lifecycle.apply(.queued(.init(kind: "k", maxAttempts: 2)), to: nil, job: testJob, at: t0)
        note(s)
        let life: [(EventPayload, Int64)] = [
            (.started(.init(worker: "w", attempt: 1, leaseDeadline: at(10))), 1),
            (.progress(.init(fraction: 0.5)), 2),
            (.lowres(.init(asset: previewAsset)), 3),
            (.failed(.init(code: "c", message: "", retryable: true, attempt: 1, retryAt: at(100))), 4),
            (.started(.init(worker: "w", attempt: 2, leaseDeadline: at(200))), 100),
            (.completed(.init(asset: resultAsset)), 150),
        ]
        for (payload, time) in life {
            try s.apply(payload, at: at(time))
            note(s)
        }
        #expect(seen == [
            "queued a0 run-at 0", "running a1 run-at 0", "running a1 run-at 0", "running a1 run-at 0",
            "queued a1 run-at 100", "running a2 run-at 100", "completed a2 run-at 100",
        ])
        #expect(s.status == .completed)
        #expect(s.version == 7)
        #expect(s.createdAt == t0)
        #expect(s.startedAt == at(1))
        #expect(s.finishedAt == at(150))
        #expect(s.result == resultAsset)
        #expect(s.progress == 1)
    }

    @Test("queued with a run-at keeps it; without one, run-at is the queue time")
    func queuedRunAt() throws {
        let a = try Lifecycle.begin(job: testJob, with: .queued(.init(kind: "k", runAt: at(-5_000))), at: t0)
        #expect(a.runAt == at(-5_000))
        let b = try Lifecycle.begin(job: testJob, with: .queued(.init(kind: "k")), at: t0)
        #expect(b.runAt == t0)
        #expect(b.input == .object([:]))
        #expect(b.priority == 0)
        #expect(b.maxAttempts == 3)
    }

    @Test("error descriptions name the job, its state and the event")
    func errorDescriptions() throws {
        let id = try JobID("img-42.x:y")
        // Absent job.
        let absent = try #require(lifecycleError {
            _ = try Lifecycle.apply(.progress(.init(fraction: 0.5)), to: nil, job: id, at: t0)
        })
        #expect(absent.state == nil)
        #expect(absent.description.contains("img-42.x:y"))
        #expect(absent.description.contains("'progress'"))
        #expect(absent.description.contains("does not exist"))

        var s = try Lifecycle.apply(.queued(.init(kind: "k")), to: nil, job: id, at: t0)
        let notRunning = try #require(lifecycleError { try s.apply(.completed(.init()), at: t0) })
        #expect(notRunning.description.contains("img-42.x:y"))
        #expect(notRunning.description.contains("queued"))
        #expect(notRunning.description.contains("'completed'"))

        let mismatch = try #require(lifecycleError {
            try s.apply(.started(.init(worker: "w", attempt: 7, leaseDeadline: t0)), at: t0)
        })
        #expect(mismatch.description.contains("img-42.x:y"))
        #expect(mismatch.description.contains("queued"))
        #expect(mismatch.description.contains("'started'"))
        #expect(mismatch.description.contains("7"))

        let early = try #require(lifecycleError {
            var q = try Lifecycle.begin(job: id, with: .queued(.init(kind: "k", runAt: at(1_000))), at: t0)
            try q.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: t0)), at: t0)
        })
        #expect(early.description.contains("2025-11-29T00:04:09.000Z"), "names the run-at time: \(early.description)")

        try s.apply(.canceled(.init(reason: "r")), at: t0)
        let terminal = try #require(lifecycleError { try s.apply(.lowres(.init(asset: previewAsset)), at: t0) })
        #expect(terminal.rule == .terminal)
        #expect(terminal.description.contains("img-42.x:y"))
        #expect(terminal.description.contains("canceled"))
        #expect(terminal.description.contains("'lowres'"))

        var r = try runningJob()
        try r.apply(.progress(.init(fraction: 0.75)), at: at(3_000))
        let back = try #require(lifecycleError { try r.apply(.progress(.init(fraction: 0.5)), at: at(3_000)) })
        #expect(back.description.contains("job-1"))
        #expect(back.description.contains("running"))
        #expect(back.description.contains("'progress'"))
        #expect(back.description.contains("0.75"))
    }
}
