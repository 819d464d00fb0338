import JobLedger
import Testing

/// Events an attempt writes name their attempt (the claim); the lifecycle accepts them only
/// while that attempt holds the job.
@Suite("Fencing")
struct FencingTests {
    /// Attempt 1 ran, its lease expired and it was requeued; attempt 2 now runs.
    func replacedJob() throws -> JobState {
        var s = try runningJob()
        try s.apply(.failed(.init(code: "lease_expired", message: "", retryable: true, attempt: 1, retryAt: at(4_000))), at: at(4_000))
        try s.apply(.started(.init(worker: "w2", attempt: 2, leaseDeadline: at(90_000))), at: at(5_000))
        return s
    }

    static let attemptOneEvents: [EventPayload] = [
        .progress(.init(fraction: 0.9, attempt: 1)),
        .lowres(.init(asset: previewAsset, attempt: 1)),
        .completed(.init(asset: resultAsset, attempt: 1)),
        .failed(.init(code: "x", message: "", retryable: true, attempt: 1)),
    ]

    @Test("a replaced attempt's progress, lowres, completed and failed are refused as stale, naming both attempts", arguments: attemptOneEvents)
    func staleAttemptIsRefused(_ payload: EventPayload) throws {
        let replaced = try replacedJob()
        var s = replaced
        let e = try #require(lifecycleError { try s.apply(payload, at: at(6_000)) })
        #expect(e.rule == .staleClaim(attempt: 1, current: 2))
        #expect(s == replaced, "a refusal changes nothing")
        #expect(e.description.contains("attempt 1 no longer holds the job, attempt 2 does"), "\(e)")
        // The state does not tell a lease that expired from an attempt that failed and was
        // retried: the words name both (they said "lease expired" also for the second).
        #expect(e.description.contains("attempt 1 ended: its lease expired, or it failed and the job was retried"), "\(e)")
        #expect(e.description.contains(testJob.rawValue))
    }

    @Test("the current attempt's events are accepted")
    func currentAttemptIsAccepted() throws {
        var s = try replacedJob()
        try s.apply(.progress(.init(fraction: 0.2, attempt: 2)), at: at(6_000))
        try s.apply(.lowres(.init(asset: previewAsset, attempt: 2)), at: at(6_100))
        try s.apply(.completed(.init(asset: resultAsset, attempt: 2)), at: at(6_200))
        #expect(s.status == .completed && s.attempt == 2 && s.progress == 1)
    }

    @Test("an attempt whose lease expired cannot write while the job waits to be retried")
    func requeuedJobRefusesTheOldAttempt() throws {
        var s = try runningJob()
        try s.apply(.failed(.init(code: "lease_expired", message: "", retryable: true, attempt: 1, retryAt: at(9_000))), at: at(4_000))
        let queued = s
        let e = try #require(lifecycleError { try s.apply(.completed(.init(attempt: 1)), at: at(5_000)) })
        #expect(e.rule == .staleClaim(attempt: 1, current: nil))
        #expect(s == queued)
        #expect(e.description.contains("attempt 1 no longer holds the job"))
    }

    @Test("on a finished job: a replaced attempt's event is stale, the finishing attempt's is refused as terminal")
    func finishedJobs() throws {
        var done = try replacedJob()
        try done.apply(.completed(.init(attempt: 2)), at: at(7_000))
        var s = done
        #expect(lifecycleError { try s.apply(.completed(.init(attempt: 1)), at: at(8_000)) }?.rule == .staleClaim(attempt: 1, current: nil))
        #expect(lifecycleError { try s.apply(.completed(.init(attempt: 2)), at: at(8_000)) }?.rule == .terminal)
        #expect(s == done)
    }

    @Test("an attempt that has not started cannot write")
    func unstartedAttempt() throws {
        var q = try queuedJob()
        #expect(lifecycleError { try q.apply(.progress(.init(fraction: 0.1, attempt: 1)), at: at(3_000)) }?.rule == .notRunning)
        var r = try runningJob()
        #expect(lifecycleError { try r.apply(.progress(.init(fraction: 0.1, attempt: 2)), at: at(3_000)) }?.rule == .attemptMismatch(expected: 1, got: 2))
    }

    @Test("events recorded before fencing (no attempt) still replay")
    func legacyEventsStillFold() throws {
        var s = try runningJob()
        try s.apply(.progress(.init(fraction: 0.5)), at: at(3_000))
        try s.apply(.completed(.init()), at: at(4_000))
        #expect(s.status == .completed)
    }

    @Test("the claim is part of the payload's canonical JSON and is read back")
    func claimRoundTrips() throws {
        let p = EventPayload.progress(.init(fraction: 0.5, message: "m", attempt: 2))
        #expect(p.canonicalText == #"{"attempt":2,"fraction":0.5,"message":"m"}"#)
        #expect(try EventPayload.decode(type: .progress, text: p.canonicalText) == p)
        let c = EventPayload.completed(.init(output: .int(1), attempt: 3))
        #expect(c.canonicalText == #"{"attempt":3,"output":1}"#)
        #expect(try EventPayload.decode(type: .completed, text: c.canonicalText) == c)
        #expect(throws: PayloadError.self) { try EventPayload.decode(type: .lowres, text: #"{"asset":{"sha256":"\#(String(repeating: "a", count: 64))","size":1,"content_type":"image/png"},"attempt":0}"#) }
        #expect(throws: PayloadError.self) { try EventPayload.decode(type: .progress, text: #"{"fraction":0.5,"attempt":"1"}"#) }
    }
}
