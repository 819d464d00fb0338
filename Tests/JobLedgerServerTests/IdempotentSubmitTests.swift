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
