import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// `serve --no-effects` runs no broadcast projection, so no message ever comes: its SSE routes
/// answered 200 and stayed silent until `--max-stream-seconds`, even for a finished job, each
/// holding one of the caller's stream places. They answer 409 `no-broadcasts` now.
@Suite struct NoBroadcastsTests {
    @Test func theStreamRoutesOfAServerThatBroadcastsNothingAre409() async throws {
        let h = try await ServerHarness.make(serverHub: false); defer { h.cleanup() }
        let auth = try await h.auth()
        try await h.live { c async throws in
            let id = try #require(try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(#"{"input":{"prompt":"p"}}"#))
                .body.json?["id"]?.stringValue)
            for (uri, template) in [("/api/jobs/\(id)/stream", "/api/jobs/{id}/stream"), ("/api/live?jobs=\(id)", "/api/live")] {
                let r = try await c.api(.get, uri, template, headers: auth)
                #expect(r.status == .conflict, "\(uri): \(r.body.text)")
                #expect(r.body.json?["type"]?.stringValue?.hasSuffix("no-broadcasts") == true, "\(r.body.text)")
            }
        }
    }
}
