@testable import JobLedger
import Testing

/// `queued.owner`: who a job belongs to (what `jobledger serve` records from the token's
/// subject), a field of its own, not part of the input the handler gets.
@Suite struct QueuedOwnerTests {
    let job = try! JobID("owned")
    func at(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: 1_000_000 + ms) }

    @Test func theOwnerIsAFieldOfItsOwnInTheCanonicalText() throws {
        let q = EventPayload.queued(.init(kind: "design", input: ["prompt": "p"], owner: "user_alice"))
        #expect(q.canonicalText == #"{"input":{"prompt":"p"},"kind":"design","max_attempts":3,"owner":"user_alice","priority":0}"#)
        #expect(q.canonicalText == q.json.canonicalText)
        #expect(try EventPayload.decode(type: .queued, text: q.canonicalText) == q)
        // Without an owner the text is what it always was (logs written before stay byte for byte).
        #expect(EventPayload.queued(.init(kind: "design")).canonicalText == #"{"input":{},"kind":"design","max_attempts":3,"priority":0}"#)
    }

    @Test(arguments: [
        (#"{"kind":"k","owner":""}"#, "'owner' must be 1…200 bytes long"),
        (#"{"kind":"k","owner":7}"#, "'owner' must be a string"),
        ("{\"kind\":\"k\",\"owner\":\"\(String(repeating: "u", count: 201))\"}", "'owner' must be 1…200 bytes long"),
    ])
    func aBadOwnerIsRefusedNamingTheField(text: String, reason: String) {
        #expect { try EventPayload.decode(type: .queued, text: text) } throws: { ($0 as? PayloadError)?.reason.contains(reason) == true }
    }

    @Test func aPayloadBuiltInSwiftObeysTheSameRule() {
        #expect(throws: PayloadError.self) { try EventPayload.queued(.init(kind: "k", owner: "")).validate() }
        #expect(throws: Never.self) { try EventPayload.queued(.init(kind: "k", owner: "user_2abc")).validate() }
    }

    @Test func theFoldKeepsTheOwnerAndARequeueNamingNobodyKeepsIt() throws {
        var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design", maxAttempts: 1, owner: "user_alice")), at: at(0))
        #expect(s.owner == "user_alice" && s.input == [:])
        try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(100_000))), at: at(1))
        try s.apply(.failed(.init(code: "E", message: "x", retryable: false, attempt: 1)), at: at(2))
        var kept = s
        try kept.apply(.queued(.init(kind: "design")), at: at(3))        // an admin's retry
        #expect(kept.owner == "user_alice")
        try s.apply(.queued(.init(kind: "design", owner: "user_bob")), at: at(3))
        #expect(s.owner == "user_bob")
    }

    /// `history` says who a job belongs to where that is set or changes.
    @Test func theHistoryLineNamesTheOwner() throws {
        let q = EventPayload.queued(.init(kind: "design", maxAttempts: 1, owner: "user_alice"))
        var s = try Lifecycle.begin(job: job, with: q, at: at(0))
        #expect(Change.describe(before: nil, after: s, payload: q) == "new → queued: kind design, priority 0, up to 1 attempt, owner user_alice")
        try s.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: at(100_000))), at: at(1))
        try s.apply(.failed(.init(code: "E", message: "x", retryable: false, attempt: 1)), at: at(2))
        let retry = EventPayload.queued(.init(kind: "design"))
        var kept = s
        try kept.apply(retry, at: at(3))
        #expect(!Change.describe(before: s, after: kept, payload: retry).contains("owner"))
        let moved = EventPayload.queued(.init(kind: "design", owner: "user_bob"))
        var bob = s
        try bob.apply(moved, at: at(3))
        #expect(Change.describe(before: s, after: bob, payload: moved).hasSuffix(", owner user_bob"))
    }

    /// Before the field, `serve` recorded the owner as `input._jobledger.owner`: such events
    /// still read as owned (a number there is no owner); the field wins when both are there.
    @Test func aQueuedEventWrittenBeforeTheFieldStillNamesItsOwner() throws {
        func owner(_ q: EventPayload.Queued) throws -> String? { try Lifecycle.begin(job: job, with: .queued(q), at: at(0)).owner }
        #expect(try owner(.init(kind: "k", input: ["_jobledger": ["owner": "user_alice"]])) == "user_alice")
        #expect(try owner(.init(kind: "k", input: ["_jobledger": ["owner": 7]])) == nil)
        #expect(try owner(.init(kind: "k", input: ["_jobledger": ["owner": "user_alice"]], owner: "user_bob")) == "user_bob")
        #expect(throws: PayloadError.self) { try EventPayload.Queued(kind: "k", input: ["_jobledger": [:]]).checkNew() }
        #expect(throws: Never.self) { try EventPayload.Queued(kind: "k", input: ["jobledger": [:]], owner: "u").checkNew() }
    }
}
