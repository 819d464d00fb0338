import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// `JobEngine.submit(_:)`, the batch an intake hands over: a request the log refuses, or whose
/// idempotency key belongs to another request, is refused on its own. One refusal failed the
/// whole batch (a 100 KB stream entry held every entry behind it for good), and a key reused
/// with another owner was handed the first job, whose status hash then took that owner's name.
@Suite struct BatchSubmitRefusalTests {
    @Test func anOversizedRequestIsRefusedAloneAndTheOthersAreQueued() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let big = JSONValue.object(["prompt": .string(String(repeating: "x", count: 100_000))])
        let batch = [
            JobSubmission(kind: "design", input: ["n": 1], idempotencyKey: "k1"),
            JobSubmission(kind: "design", input: big, idempotencyKey: "k2"),
            JobSubmission(kind: "design", input: ["n": 3], idempotencyKey: "k3"),
        ]
        let thrown = await #expect(throws: JobSubmissionsRefused.self) { _ = try await engine.submit(batch) }
        let r = try #require(thrown)
        #expect(r.jobs.count == 3 && r.jobs[0] != nil && r.jobs[1] == nil && r.jobs[2] != nil)
        #expect(Array(r.refusals.keys) == [1])
        #expect(r.refusals[1]?.contains("bytes") == true, "\(r.refusals)")
        #expect(try engine.jobs().map(\.id).sorted() == [r.jobs[0]!, r.jobs[2]!].sorted())
        // Delivered again (an intake that crashed before acknowledging): the same jobs, nothing new.
        let again = await #expect(throws: JobSubmissionsRefused.self) { _ = try await engine.submit(batch) }
        #expect(again?.jobs == r.jobs)
        #expect(try engine.jobs().count == 2)
    }

    /// A refused batch is tried again in halves, not one request at a time: a redelivered
    /// batch of 1,000 with one refused request took 999 transactions on every delivery.
    @Test func aRefusedBatchIsSplitInHalvesNotCommittedOneByOne() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let big = JSONValue.object(["prompt": .string(String(repeating: "x", count: 100_000))])
        let batch = (0..<256).map { i in
            JobSubmission(kind: "design", input: i == 170 ? big : ["n": .int(Int64(i))], idempotencyKey: "k\(i)")
        }
        let before = f.ledger.appendTransactions
        let thrown = await #expect(throws: JobSubmissionsRefused.self) { _ = try await engine.submit(batch) }
        let r = try #require(thrown)
        #expect(Array(r.refusals.keys) == [170])
        #expect(r.jobs.enumerated().allSatisfy { ($0.offset == 170) == ($0.element == nil) })
        // The whole batch and the refused half at each of the 8 levels of halving are tried and
        // refused, the other half at each level committed: 17 transactions, against 257 (the
        // batch, then each request) one by one.
        #expect(f.ledger.appendTransactions - before <= 17)
        // In the order asked: the jobs' queued events follow the batch's order.
        var seqs: [Int64] = []
        for case let id? in r.jobs { try f.ledger.forEachEvent(of: id) { seqs.append($0.seq) } }
        #expect(seqs == seqs.sorted())
        #expect(try engine.jobs().count == 255)
    }

    @Test func aKeyReusedWithAnotherOwnerIsRefusedAndTheSameRequestGetsItsJob() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let first = try await engine.submit([JobSubmission(kind: "design", input: ["p": "a"], idempotencyKey: "req-1", owner: "alice")])
        let thrown = await #expect(throws: JobSubmissionsRefused.self) {
            _ = try await engine.submit([
                JobSubmission(kind: "design", input: ["p": "a"], idempotencyKey: "req-1", owner: "alice"),
                JobSubmission(kind: "design", input: ["p": "a"], idempotencyKey: "req-1", owner: "mallory"),
                JobSubmission(kind: "design", input: ["p": "b"], idempotencyKey: "req-1", owner: "alice"),
            ])
        }
        let r = try #require(thrown)
        #expect(r.jobs == [first[0], nil, nil])
        #expect(r.refusals[1]?.contains("owner differs") == true, "\(r.refusals)")
        #expect(r.refusals[2]?.contains("input differs") == true, "\(r.refusals)")
        #expect(try engine.jobs().map(\.owner) == ["alice"])
    }

    @Test func aBatchWithNothingRefusedReturnsItsJobs() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let ids = try await engine.submit((0..<3).map { JobSubmission(kind: "design", input: ["n": .int(Int64($0))], idempotencyKey: "k\($0)") })
        #expect(Set(ids).count == 3)
        #expect(try engine.jobs().count == 3)
    }
}
