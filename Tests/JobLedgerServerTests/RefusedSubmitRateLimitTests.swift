import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// A submit whose body is refused (400, 413, 422) counts against the limit like an accepted one
/// (Serve.md § Rate limit), so it answers the limit's headers as well: the client learns what it
/// has left. They were sent with 202 and 429 only.
@Suite struct RefusedSubmitRateLimitTests {
    static let remaining = HTTPField.Name("RateLimit-Remaining")!
    static let limit = HTTPField.Name("RateLimit-Limit")!
    static let reset = HTTPField.Name("RateLimit-Reset")!

    @Test func refusedBodiesAnswerTheLimitsHeaders() async throws {
        let h = try await ServerHarness.make(limit: RateLimitSpec(limit: 4, windowMilliseconds: 60_000)); defer { h.cleanup() }
        // At the start of a window, so the sliding weight of the previous one is 0.
        h.clock.advance(ms: 60_000 - h.clock.now % 60_000)
        let auth = try await h.auth("user_alice")
        let big = #"{"input":{"prompt":"\#(String(repeating: "x", count: 70_000))"}}"#
        let refused: [(String, HTTPResponse.Status)] = [
            ("not json", .badRequest),
            (#"{"input":{"prompt":"p"},"priority":"high"}"#, .unprocessableContent),
            (big, .contentTooLarge),
        ]
        try await h.live { c async throws in
            for (n, (text, status)) in refused.enumerated() {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(text))
                #expect(r.status == status, "\(r.body.text)")
                #expect(r.headers[Self.limit] == "4")
                #expect(r.headers[Self.remaining] == "\(3 - n)", "\(status)")
                #expect(r.headers[Self.reset] == "60")
            }
            let ok = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(#"{"input":{"prompt":"p"}}"#))
            #expect(ok.status == .accepted && ok.headers[Self.remaining] == "0")
            #expect(try h.ledger.eventCount() == 1)
        }
    }
}
