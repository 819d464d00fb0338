import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A submit whose idempotency key already belongs to a job asked for with another request is
/// refused with `IdempotencyKeyReused`, naming the job and what differs, and queues nothing.
/// It returned the first job, as if the second request had been queued.
@Suite struct IdempotencyKeyReuseTests {
    @Test func aKeyReusedWithAnotherRequestIsRefusedAndQueuesNothing() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit(kind: "k", input: ["n": 1], idempotencyKey: "order-17")
        let events = try f.ledger.eventCount()

        await #expect(throws: IdempotencyKeyReused(key: "order-17", job: first, fields: ["input"])) {
            _ = try await engine.submit(kind: "k", input: ["n": 2], idempotencyKey: "order-17")
        }
        await #expect(throws: IdempotencyKeyReused(key: "order-17", job: first, fields: ["kind", "priority", "owner"])) {
            _ = try await engine.submit(kind: "other", input: ["n": 1], idempotencyKey: "order-17", priority: 9, owner: "user_1")
        }
        await #expect(throws: IdempotencyKeyReused(key: "order-17", job: first, fields: ["max_attempts", "run_at"])) {
            _ = try await engine.submit(kind: "k", input: ["n": 1], idempotencyKey: "order-17", runAt: f.clock.now(), maxAttempts: 5)
        }
        #expect(try f.ledger.eventCount() == events)
        #expect(try engine.state(of: first)?.input == ["n": 1])
        let refusal = IdempotencyKeyReused(key: "order-17", job: first, fields: ["input"])
        #expect(refusal.description == "idempotency key 'order-17' belongs to job \(first) queued with another request (input differs); nothing was queued")
    }

    /// An input whose only difference is how a character is written (é as one scalar, or as e
    /// + U+0301) is another request: its digest differs. Swift's `==` holds them equal, and the
    /// retry got the first job, its own input dropped.
    @Test func anInputInAnotherUnicodeNormalizationIsAnotherRequest() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit(kind: "k", input: ["prompt": "caf\u{E9}"], idempotencyKey: "order-20", owner: "user_\u{E9}")
        await #expect(throws: IdempotencyKeyReused(key: "order-20", job: first, fields: ["input"])) {
            _ = try await engine.submit(kind: "k", input: ["prompt": "cafe\u{301}"], idempotencyKey: "order-20", owner: "user_\u{E9}")
        }
        await #expect(throws: IdempotencyKeyReused(key: "order-20", job: first, fields: ["owner"])) {
            _ = try await engine.submit(kind: "k", input: ["prompt": "caf\u{E9}"], idempotencyKey: "order-20", owner: "user_e\u{301}")
        }
        #expect(try f.types(first) == [.queued])
        #expect(try await engine.submit(kind: "k", input: ["prompt": "caf\u{E9}"], idempotencyKey: "order-20", owner: "user_\u{E9}") == first)
    }

    /// A `null` input is recorded as `{}`: the same request again is a retry, not another
    /// request (it was refused, "input differs").
    @Test func aNullInputAgainIsTheSameRequest() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit(kind: "k", input: .null, idempotencyKey: "order-19")
        let again = try await engine.submit(kind: "k", input: .null, idempotencyKey: "order-19")
        #expect(again == first)
        #expect(try f.types(first) == [.queued])
    }

    /// The same request again is a retry: the first job, nothing queued. Compared as the log
    /// records it, so `1.0` and `1` are the same input.
    @Test func theSameRequestAgainReturnsTheFirstJob() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit(kind: "k", input: ["n": .double(1.0), "s": "x"], idempotencyKey: "order-18", priority: 2)
        let again = try await engine.submit(kind: "k", input: ["s": "x", "n": 1], idempotencyKey: "order-18", priority: 2)
        #expect(again == first)
        #expect(try f.types(first) == [.queued])
    }

    /// A typed submit says the same, since its input is JSON in the log.
    @Test func aTypedSubmitWithAReusedKeyIsRefused() async throws {
        enum Echo: JobDefinition {
            struct Input: Codable, Sendable { var text: String }
            typealias Output = Input
            static let kind = "echo"
        }
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit(Echo.self, .init(text: "a"), idempotencyKey: "t-1")
        #expect(try await engine.submit(Echo.self, .init(text: "a"), idempotencyKey: "t-1") == first)
        await #expect(throws: IdempotencyKeyReused(key: "t-1", job: first, fields: ["input"])) {
            _ = try await engine.submit(Echo.self, .init(text: "b"), idempotencyKey: "t-1")
        }
    }
}
