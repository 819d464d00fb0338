import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// The submit routes read the body as it arrives. A gzip body was refused as "not valid UTF-8",
/// which does not say what to change, and a body only labelled gzip was queued as if the label
/// were not there. Both are a 415 now, and nothing is written.
@Suite struct SubmitContentEncodingTests {
    @Test func anEncodedBodyIs415AndWritesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        try await h.live { c async throws in
            for coding in ["gzip", "br", "deflate, gzip"] {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth + [.contentEncoding: coding],
                                        body: body(#"{"input":{"prompt":"p"}}"#))
                #expect(r.status == .unsupportedMediaType, "\(coding): \(r.body.text)")
                #expect(r.body.json?["field"] == "Content-Encoding")
            }
            #expect(try h.ledger.eventCount() == 0)
            let plain = try await c.api(.post, "/api/design", "/api/design", headers: auth + [.contentEncoding: "identity"],
                                        body: body(#"{"input":{"prompt":"p"}}"#))
            #expect(plain.status == .accepted)
        }
    }
}
