import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A job's owner through the engine: recorded by `submit(owner:)`, never part of the input the
/// handler gets, kept by a retry; the reserved input key refused; a job queued before the field
/// (its owner in `input._jobledger`) retried without carrying the key into its new event.
@Suite struct OwnerEngineTests {
    /// A handler of kind `k` whose first attempt fails for good; returns the inputs it was given.
    static func failingOnce(_ engine: JobEngine) -> Recorder<JSONValue> {
        let inputs = Recorder<JSONValue>()
        engine.register(kind: "k") { ctx in
            inputs.add(ctx.input)
            if ctx.attempt == 1 { throw JobError(code: "bad", message: "no", retryable: false) }
            return JobCompletion()
        }
        return inputs
    }

    @Test func theOwnerIsRecordedBesideTheInputAndARetryKeepsIt() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let inputs = Self.failingOnce(engine)
        let job = try await engine.submit(kind: "k", input: ["p": "x"], owner: "user_alice")
        try await engine.tick()
        try await engine.retry(job)
        try await engine.tick()
        #expect(inputs.all == [["p": "x"], ["p": "x"]])
        let s = try #require(try engine.state(of: job))
        #expect(s.status == .completed && s.owner == "user_alice")
    }

    @Test func theReservedInputKeyIsRefusedAndNothingIsWritten() async throws {
        let f = try Fixture()
        let engine = f.engine()
        await #expect { try await engine.submit(kind: "k", input: ["_jobledger": ["owner": "user_bob"]]) } throws: { e in
            guard case .invalidPayload(let p) = e as? LedgerError else { return false }
            return p.reason.contains("'_jobledger' is reserved")
        }
        #expect(try f.ledger.eventCount() == 0)
    }

    @Test func aJobQueuedBeforeTheOwnerFieldIsRetriedWithoutTheLegacyKey() async throws {
        let f = try Fixture()
        // As `serve` wrote it before the field: imported, since a new event may not carry the key.
        let line = #"{"job_id":"old","type":"queued","recorded_at":"2026-01-01T00:00:00.000Z","payload":{"input":{"_jobledger":{"owner":"user_alice"},"p":"x"},"kind":"k","max_attempts":1}}"#
        _ = try f.ledger.importNDJSON([line])
        let job = try JobID("old")
        let engine = f.engine()
        let inputs = Self.failingOnce(engine)
        try await engine.tick()
        #expect(try engine.state(of: job)?.owner == "user_alice")
        try await engine.retry(job)
        try await engine.tick()
        #expect(inputs.all.last == ["p": "x"])
        let s = try #require(try engine.state(of: job))
        #expect(s.status == .completed && s.owner == "user_alice")
        #expect(try f.ledger.verify().isValid)
    }
}
