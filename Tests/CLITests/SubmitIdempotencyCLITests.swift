import Foundation
import Testing

/// `submit --idempotency-key`: the same key with the same job is the first job again; with
/// another job it is a refusal (exit 3) that names the job and queues nothing.
@Suite(.timeLimit(.minutes(2)))
struct SubmitIdempotencyCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    @Test func aKeyReusedForAnotherJobIsRefusedAndQueuesNothing() async throws {
        let first = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"a cat"}"#, "--idempotency-key", "req-1"], in: scratch)
        #expect(first.status == 0, "\(first)")
        let job = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let again = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"a cat"}"#, "--idempotency-key", "req-1"], in: scratch)
        #expect(again.status == 0 && again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == job, "\(again)")
        let before = try await snapshot(db, in: scratch)
        let other = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"a dog"}"#, "--idempotency-key", "req-1"], in: scratch)
        expectRefusal(other, exit: 3, mentions: ["rejected", "idempotency key 'req-1'", "job \(job)", "input differs", "nothing was queued"])
        #expect(try await snapshot(db, in: scratch) == before)
    }
}
