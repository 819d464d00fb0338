import Foundation
import Testing

/// `append --idempotency-key`: a key already in the log with another job, type or payload
/// exited 0 and printed the earlier job's id, as if this append had been stored (a script's
/// `JOB=$(jobledger append …)` went on with a job that was not what it asked for). It is now a
/// refusal (exit 3, as `submit` refuses a key reused with another request) that names the job
/// the key belongs to and what differs; the same append repeated still prints the same id.
@Suite(.timeLimit(.minutes(2)))
struct AppendIdempotencyCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    func append(_ payload: String, job: String? = nil, type: String = "queued", key: String = "req-1") async throws -> CLIResult {
        try await jobledger(["append", "--db", db, "--type", type, "--payload", payload, "--idempotency-key", key] + (job.map { ["--job", $0] } ?? []),
                            in: scratch)
    }

    @Test func aKeyReusedWithAnotherPayloadIsRefusedAndWritesNothing() async throws {
        let first = try await append(#"{"kind":"design","input":{"prompt":"a cat"}}"#)
        #expect(first.status == 0, "\(first)")
        let job = first.stdout.trimmingCharacters(in: .newlines)
        // The same append again: the same job, nothing written, exit 0.
        let before = try await snapshot(db, in: scratch)
        let again = try await append(#"{"input":{"prompt":"a cat"},"kind":"design"}"#)
        #expect(again.status == 0 && again.stdout == first.stdout, "\(again)")
        #expect(again.stderr.contains("idempotency key already used"), "\(again)")

        let other = try await append(#"{"kind":"design","input":{"prompt":"a dog"}}"#)
        expectRefusal(other, exit: 3, mentions: ["rejected", "idempotency key 'req-1' belongs to job \(job)", "(seq 1, version 1 queued)",
                                                 "payload differs", "nothing was written"])
        #expect(other.stdout.isEmpty, "no job id for a script to take: \(other)")
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func aKeyReusedForAnotherJobOrTypeIsRefused() async throws {
        let first = try await append(#"{"kind":"design"}"#, job: "job-1")
        #expect(first.status == 0 && first.stdout == "job-1\n", "\(first)")
        let same = try await append(#"{"kind":"design"}"#, job: "job-1")
        #expect(same.status == 0 && same.stdout == "job-1\n", "\(same)")
        let before = try await snapshot(db, in: scratch)

        let otherJob = try await append(#"{"kind":"design"}"#, job: "job-2")
        expectRefusal(otherJob, exit: 3, mentions: ["belongs to job job-1", "job differs", "nothing was written"])
        let otherType = try await append(#"{"reason":"enough"}"#, job: "job-1", type: "canceled")
        expectRefusal(otherType, exit: 3, mentions: ["belongs to job job-1", "type differs", "nothing was written"])
        #expect(try await snapshot(db, in: scratch) == before)
    }
}
