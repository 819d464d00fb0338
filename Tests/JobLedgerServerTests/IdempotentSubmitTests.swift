import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A submit with an `Idempotency-Key` is compared with the job's `queued` event as the log
/// records it. The log stores canonical JSON, where a whole number sent as `1.0`, `1e2` or `-0.0`
/// is written `1`, `100`, `0` and read back as an integer: that is the same body, not another.
@Suite struct IdempotentSubmitTests {
    static let key = HTTPField.Name("Idempotency-Key")!

    /// It was a 422 `idempotency-key-reused` on the first request already (the job queued and
    /// ran all the same, so a client that trusted the 422 and sent it again under a new key got
    /// it twice), and on every replay.
    @Test func wholeNumbersWrittenAsFractionsAreTheSameBody() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        let text = #"{"input":{"prompt":"p","size":1.0,"scale":1e2,"offset":-0.0,"ratio":0.5}}"#
        try await h.live { c async throws in
            let first = try await c.api(.post, "/api/design", "/api/design", headers: auth + [Self.key: "k-1"], body: body(text))
            #expect(first.status == .accepted, "\(first.body.text)")
            let again = try await c.api(.post, "/api/design", "/api/design", headers: auth + [Self.key: "k-1"], body: body(text))
            #expect(again.status == .accepted, "\(again.body.text)")
            #expect(first.body.json?["id"] != nil && again.body.json?["id"] == first.body.json?["id"])
            #expect(try h.ledger.eventCount() == 1)
            // A number that differs is still another body.
            let other = try await c.api(.post, "/api/design", "/api/design", headers: auth + [Self.key: "k-1"],
                                        body: body(#"{"input":{"prompt":"p","size":2.0,"scale":1e2,"offset":-0.0,"ratio":0.5}}"#))
            #expect(other.status == .unprocessableContent)
            #expect(other.body.json?["type"] == "/problems/idempotency-key-reused")
            #expect(try h.ledger.eventCount() == 1)
        }
    }
}

/// Two `Idempotency-Key` headers are one request with two keys: refused as such, naming the
/// header, and nothing is written (they were joined with ", " and refused as "not visible ASCII").
@Suite struct DuplicateIdempotencyKeyTests {
    @Test func twoKeysAreRefusedAndNothingIsWritten() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        try await h.live { c async throws in
            let twice = auth + [IdempotentSubmitTests.key: "k-1"] + [IdempotentSubmitTests.key: "k-2"]
            let r = try await c.api(.post, "/api/design", "/api/design", headers: twice, body: body(#"{"input":{"prompt":"p"}}"#))
            #expect(r.status == .badRequest, "\(r.body.text)")
            #expect(r.body.json?["detail"]?.stringValue?.contains("Idempotency-Key was sent 2 times") == true, "\(r.body.text)")
            #expect(try h.ledger.eventCount() == 0)
        }
    }
}
