import Foundation
import Testing

/// Six `jobledger retry` of one failed job at once: one requeues it, and every other says so the
/// same way (exit 3, "only a failed job can be retried"). A loser that passed the check before the
/// winner's append used to print the lifecycle's refusal or a version conflict ("re-read the job
/// and try again", which would only be refused).
@Suite struct RetryRaceCLITests {
    @Test func concurrentRetriesRequeueOnceAndTheOthersSaySoAlike() async throws {
        let scratch = Scratch()
        let job = try await append("log.sqlite", type: "queued", payload: #"{"kind":"design","max_attempts":1}"#, in: scratch)
        try await append("log.sqlite", type: "started", job: job, payload: startedPayload(), in: scratch)
        try await append("log.sqlite", type: "failed", job: job, payload: #"{"code":"boom","message":"no","retryable":false}"#,
                         extra: ["--attempt", "1"], in: scratch)
        let results = try await withThrowingTaskGroup(of: CLIResult.self) { group in
            for _ in 0..<6 { group.addTask { try await jobledger(["retry", job, "--db", "log.sqlite"], in: scratch) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0.status == 0 }.count == 1, "\(results)")
        for r in results where r.status != 0 {
            expectRefusal(r, exit: 3, mentions: ["only a failed job can be retried; job \(job) is queued"])
        }
    }
}
