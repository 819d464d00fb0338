import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerProjections
import JobLedgerServer
import Testing

/// A server whose blobs are published elsewhere (no local folder to serve, as with Vercel
/// Blob): a job's `preview_url` and `result_url` are the URLs the blob projection recorded for
/// its artefacts, and a job not uploaded yet has none.
@Suite struct RemoteBlobURLTests {
    @Test func aJobsURLsAreTheOnesTheBlobProjectionRecorded() async throws {
        var h = try await ServerHarness.make(); defer { h.cleanup() }
        h.server = JobLedgerServer(ledger: h.ledger, engine: h.engine, hub: h.hub, runner: h.runner, auth: h.server.auth,
                                   limiter: h.server.limiter, kinds: h.server.kinds, blobFolder: nil, now: h.clock.closure)
        let auth = try await h.auth()
        func submit() async throws -> String {
            try await h.live { c async throws in
                try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(ReadTests.design)).body.json!["id"]!.stringValue!
            }
        }
        let done = try await submit()
        try await h.workAndProject()
        let later = try await submit()  // queued, nothing uploaded
        let rows = try h.ledger.currentJobRows()
        let row = try #require(rows.first { $0.id.rawValue == done })
        let preview = try #require(row.previewURL), result = try #require(row.resultURL)
        try await h.live { c async throws in
            let job = try await c.api(.get, "/api/jobs/\(done)", "/api/jobs/{id}", headers: auth).body.json!
            #expect(job["preview_url"]?.stringValue == preview)
            #expect(job["result_url"]?.stringValue == result)
            #expect(!preview.hasPrefix("/blobs/"))  // the store's own URL, not one served here
            let queued = try await c.api(.get, "/api/jobs/\(later)", "/api/jobs/{id}", headers: auth).body.json!
            #expect(queued["state"] == "queued" && queued["preview_url"] == .null && queued["result_url"] == .null)
        }
    }
}
