import Foundation
import Testing

/// `append --attempt N` names the claim of every event an attempt writes, `failed` included
/// (whose payload cannot be decoded without one).
@Suite(.timeLimit(.minutes(2)))
struct AppendAttemptCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    @Test func aFailedEventTakesItsAttemptFromTheOption() async throws {
        let job = try await append(db, type: "queued", payload: queuedPayload, in: scratch)
        try await append(db, type: "started", job: job, payload: startedPayload(), in: scratch)
        try await append(db, type: "failed", job: job, payload: #"{"code":"x","retryable":false}"#, extra: ["--attempt", "1"], in: scratch)
        let history = try await jobledger(["history", "--db", db, job], in: scratch)
        #expect(history.status == 0 && history.stdout.contains("failed"), "\(history)")
    }

    @Test func anAttemptThatContradictsThePayloadIsRefusedAndWritesNothing() async throws {
        let job = try await append(db, type: "queued", payload: queuedPayload, in: scratch)
        try await append(db, type: "started", job: job, payload: startedPayload(), in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", job, "--type", "failed", "--attempt", "2",
                                     "--payload", #"{"code":"x","retryable":false,"attempt":1}"#], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["--attempt 2 contradicts", "\"attempt\": 1"])
        #expect(try await snapshot(db, in: scratch) == before)
    }
}
