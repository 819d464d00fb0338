import Testing
@testable import JobLedger

// MARK: - Fixtures shared by the lifecycle tests

let testJob = try! JobID("job-1")
/// 2025-11-29T00:04:08.000Z
let t0 = Timestamp(milliseconds: 1_764_374_648_000)
func at(_ offsetMs: Int64) -> Timestamp { t0.adding(milliseconds: offsetMs) }

let shaA = String(repeating: "a", count: 64)
let shaB = String(repeating: "0123456789abcdef", count: 4)
let previewAsset = AssetRef(sha256: shaA, size: 1234, contentType: "image/jpeg")
let resultAsset = AssetRef(sha256: shaB, size: 98_765, contentType: "image/png")

/// Runs `body` and returns the lifecycle error it throws, or nil when it does not throw.
/// Any other error is recorded as an issue.
func lifecycleError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> LifecycleError? {
    do {
        try body()
        return nil
    } catch let e as LifecycleError {
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A queued job built from a real `queued` event: runAt t0+1s, created at t0, version 1.
func queuedJob(maxAttempts: Int = 3, runAt: Timestamp? = at(1_000)) throws -> JobState {
    let s = try Lifecycle.begin(
        job: testJob,
        with: .queued(.init(kind: "resize", input: .object(["w": .int(640)]), priority: 5, maxAttempts: maxAttempts, runAt: runAt)),
        at: t0)
    #expect(s.runAt == runAt ?? t0)
    return s
}

/// The job running its first attempt (started at t0+2s by "w1", lease t0+62s), version 2.
func runningJob(maxAttempts: Int = 3) throws -> JobState {
    var s = try queuedJob(maxAttempts: maxAttempts)
    try s.apply(.started(.init(worker: "w1", attempt: 1, leaseDeadline: at(62_000))), at: at(2_000))
    return s
}
