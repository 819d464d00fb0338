import Foundation
import GRDB
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// The submit route: the 202 shape, the rate limit at its exact edge, bad bodies, idempotency.
@Suite struct SubmitTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#

    @Test func acceptedShapeAndOwnerRecordedInTheQueuedEvent() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        try await h.live { c async throws in
            let r = try await c.api(.post, "/api/jobs/design", "/api/jobs/{kind}", headers: auth,
                                    body: body(#"{"input":{"prompt":"p"},"priority":5,"max_attempts":2,"run_at":"2027-01-01T00:00:00Z"}"#))
            #expect(r.status == .accepted)
            let j = try #require(r.body.json)
            let id = try #require(j["id"]?.stringValue)
            #expect(j["stream"]?.stringValue == "job:\(id)")
            #expect(j["urls"]?["events"]?.stringValue == "/api/jobs/\(id)/events")
            #expect(r.headers[.location] == "/api/jobs/\(id)")
            let state = try #require(try await h.ledger.state(of: JobID(id)))
            #expect(state.owner == "user_alice")
            #expect(state.priority == 5 && state.maxAttempts == 2)
            #expect(state.input == ["prompt": "p"], "the handler gets the caller's input as sent")
            var queued: EventPayload.Queued?
            try h.ledger.forEachEvent(of: JobID(id)) { e in if case .queued(let q) = e.payload { queued = q } }
            #expect(queued?.owner == "user_alice")
        }
    }

    @Test func theLimitRefusesTheCallAfterTheLastAllowedOneWithItsHeaders() async throws {
        let h = try await ServerHarness.make(limit: RateLimitSpec(limit: 3, windowMilliseconds: 60_000)); defer { h.cleanup() }
        // The clock sits at the start of a window so the sliding weight of the previous one is 0.
        h.clock.advance(ms: 60_000 - h.clock.now % 60_000)
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        try await h.live { c async throws in
            for remaining in [2, 1, 0] {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                #expect(r.status == .accepted)
                #expect(r.headers[HTTPField.Name("RateLimit-Limit")!] == "3")
                #expect(r.headers[HTTPField.Name("RateLimit-Remaining")!] == "\(remaining)")
                #expect(r.headers[HTTPField.Name("RateLimit-Reset")!] == "60")
            }
            h.clock.advance(ms: 10_500)
            let refused = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "50")
            #expect(refused.headers[HTTPField.Name("RateLimit-Remaining")!] == "0")
            #expect(refused.headers[.contentType] == "application/problem+json")
            #expect(try h.ledger.eventCount() == 3)
            // Another user has a limit of their own.
            #expect(try await c.api(.post, "/api/design", "/api/design", headers: bob, body: body(Self.design)).status == .accepted)
        }
    }

    @Test func badBodiesNameTheFieldAndChangeNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let cases: [(String, Int, String)] = [
            ("not json", 400, "body"),
            ("[1,2]", 400, "body"),
            (#"{}"#, 422, "input"),
            (#"{"input":"x"}"#, 422, "input"),
            (#"{"input":{}}"#, 422, "input.prompt"),
            (#"{"input":{"prompt":42}}"#, 422, "input.prompt"),
            (#"{"input":{"prompt":"  "}}"#, 422, "input.prompt"),
            (#"{"input":{"prompt":"p","_jobledger":{"owner":"user_bob"}}}"#, 422, "input._jobledger"),
            (#"{"input":{"prompt":"p"},"priority":"high"}"#, 422, "priority"),
            (#"{"input":{"prompt":"p"},"priority":2000000}"#, 422, "priority"),
            (#"{"input":{"prompt":"p"},"max_attempts":0}"#, 422, "max_attempts"),
            (#"{"input":{"prompt":"p"},"run_at":"tomorrow"}"#, 422, "run_at"),
            (#"{"input":{"prompt":"p"},"colour":"red"}"#, 422, "colour"),
        ]
        try await h.live { c async throws in
            for (text, status, field) in cases {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(text))
                #expect(Int(r.status.code) == status, "\(text): \(r.body.text)")
                #expect(r.body.json?["field"]?.stringValue == field, "\(text): \(r.body.text)")
                #expect(r.headers[.contentType] == "application/problem+json")
            }
            let big = #"{"input":{"prompt":"\#(String(repeating: "x", count: 70_000))"}}"#
            let r = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(big))
            #expect(r.status == .contentTooLarge)
            // Under the route's 64 KiB, but over the log's limit once the kind, owner and the
            // other fields are added: still a 413 naming the input, not a refusal naming a job.
            let near = #"{"input":{"pad":"\#(String(repeating: "x", count: 65_536 - 30))"}}"#
            #expect(near.utf8.count <= SubmitRequest.maxBodyBytes)
            let over = try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: auth, body: body(near))
            #expect(over.status == .contentTooLarge, "\(over.body.text)")
            #expect(over.body.json?["field"]?.stringValue == "input" && over.body.json?["detail"]?.stringValue?.contains("at most 65536") == true)
            let unknown = try await c.api(.post, "/api/jobs/teleport", "/api/jobs/{kind}", headers: auth, body: body(Self.design))
            #expect(unknown.status == .notFound)
            let badKey = try await c.api(.post, "/api/design", "/api/design", headers: auth + [HTTPField.Name("Idempotency-Key")!: "has space"],
                                         body: body(Self.design))
            #expect(badKey.status == .badRequest && badKey.body.json?["field"] == "Idempotency-Key")
            // Bytes that are not UTF-8 are refused, not stored as replacement characters.
            let notUTF8 = ByteBuffer(bytes: Array(#"{"input":{"prompt":"a"#.utf8) + [0xFF, 0xFE] + Array(#"b"}}"#.utf8))
            let bad = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: notUTF8)
            #expect(bad.status == .badRequest && bad.body.json?["field"] == "body", "\(bad.body.text)")
            #expect(bad.body.json?["detail"]?.stringValue?.contains("UTF-8") == true, "\(bad.body.text)")
            #expect(try h.ledger.head() == nil, "nothing was written")
        }
        #expect(try h.ledger.eventCount() == 0)
    }

    @Test func idempotentReplaysReturnTheSameJobAndAnotherBodyIs422() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "order-7f3"]
        try await h.live { c async throws in
            let first = try await c.api(.post, "/api/design", "/api/design", headers: alice + key, body: body(Self.design))
            let again = try await c.api(.post, "/api/design", "/api/design", headers: alice + key, body: body(Self.design))
            #expect(first.status == .accepted && again.status == .accepted)
            #expect(first.body.json?["id"] == again.body.json?["id"])
            #expect(try h.ledger.eventCount() == 1)
            let other = try await c.api(.post, "/api/design", "/api/design", headers: alice + key, body: body(#"{"input":{"prompt":"a blue bicycle"}}"#))
            #expect(other.status == .unprocessableContent)
            #expect(other.body.json?["type"] == "/problems/idempotency-key-reused")
            // The key is the caller's own: Bob's same key is a new job.
            let bobs = try await c.api(.post, "/api/design", "/api/design", headers: bob + key, body: body(Self.design))
            #expect(bobs.status == .accepted && bobs.body.json?["id"] != first.body.json?["id"])
            #expect(try h.ledger.eventCount() == 2)
        }
    }

    /// Another writer holding the log's write lock past the busy timeout is the server's
    /// trouble, not the request's: 503 with `Retry-After`, nothing written, and the same request
    /// sent again once the lock is free is accepted. (It was a 422 "the log refused the job",
    /// which a client takes as final.)
    @Test func aLogBusyWithAnotherWriterIs503AndTheSameRequestGoesThroughLater() async throws {
        var log = LedgerConfiguration()
        log.busyTimeout = .milliseconds(50)
        let h = try await ServerHarness.make(log: log); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        // Another connection (a second process, a `sqlite3` shell) holds the write lock.
        var c = Configuration()
        c.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: h.ledger.path, configuration: c)
        try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        try await h.live { client async throws in
            let busy = try await client.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design))
            #expect(busy.status == .serviceUnavailable, "\(busy.body.text)")
            #expect(busy.headers[.retryAfter] == "1")
            #expect(busy.body.json?["type"] == "/problems/unavailable")
            try await other.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
            #expect(try h.ledger.eventCount() == 0, "nothing was written")
            let again = try await client.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design))
            #expect(again.status == .accepted, "\(again.body.text)")
            #expect(try h.ledger.eventCount() == 1)
        }
    }

    @Test func rateLimitSpecParsing() throws {
        #expect(try RateLimitSpec(parsing: "10/60s") == RateLimitSpec(limit: 10, windowMilliseconds: 60_000))
        #expect(try RateLimitSpec(parsing: "fixed:100/1h") == RateLimitSpec(limit: 100, windowMilliseconds: 3_600_000, sliding: false))
        #expect(try RateLimitSpec(parsing: "sliding:5/500ms").windowMilliseconds == 500)
        for bad in ["", "10", "ten/60s", "10/60", "10/0s", "0/60s", "10/2d", "10/60s/1"] {
            #expect(throws: ServerConfigurationError.self, "\(bad)") { try RateLimitSpec(parsing: bad) }
        }
        // The reason says what is wrong with this text, not something else.
        func reason(_ text: String) -> String {
            do { _ = try RateLimitSpec(parsing: text); return "" } catch { return "\(error)" }
        }
        #expect(reason("abc").contains("expected a limit and a window separated by '/'"), "\(reason("abc"))")
        #expect(reason("ten/60s").contains("the limit must be a whole number 1…1000000"))
        #expect(reason("10/60").contains("the window must be a whole number with ms, s, m or h"))
        // A zero window has a number and a unit: it was said to have none.
        #expect(reason("10/0s").contains("the window must be positive, 1 ms…24 h (got 0s)"), "\(reason("10/0s"))")
        #expect(reason("10/25h").contains("the window must be 1 ms…24 h (got 25h)"), "\(reason("10/25h"))")
        // Too many digits, or a window whose milliseconds overflow (it trapped), are out of range.
        #expect(reason("10/99999999999999999999h").contains("the window must be 1 ms…24 h"), "\(reason("10/99999999999999999999h"))")
        #expect(reason("10/9999999999999999h").contains("the window must be 1 ms…24 h"), "\(reason("10/9999999999999999h"))")
        #expect(reason("token:5/1s").contains("unknown window kind 'token': sliding or fixed"), "\(reason("token:5/1s"))")
    }
}

extension HTTPFields {
    static func + (a: HTTPFields, b: HTTPFields) -> HTTPFields {
        var r = a
        for f in b { r.append(f) }
        return r
    }
}
