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
        var h = try await ServerHarness.make(blobStore: { RemoteStore(folder: LocalFolderBlobStore(path: $0)) }); defer { h.cleanup() }
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
            #expect(preview.hasPrefix(RemoteStore.base))  // the store's own URL, not one served here
            let queued = try await c.api(.get, "/api/jobs/\(later)", "/api/jobs/{id}", headers: auth).body.json!
            #expect(queued["state"] == "queued" && queued["preview_url"] == .null && queued["result_url"] == .null)
        }
    }
}

/// A store that publishes elsewhere, as Vercel Blob does: the bytes kept in a folder, the URLs
/// its own (`https://…`), which the server passes on as recorded.
struct RemoteStore: BlobStore {
    static let base = "https://store.example/"
    let folder: LocalFolderBlobStore

    func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
        remote(try await folder.put(pathname: pathname, bytes: bytes, contentType: contentType))
    }
    func head(pathname: String) async throws(SinkError) -> BlobInfo? { try await folder.head(pathname: pathname).map(remote) }
    func list(prefix: String) async throws(SinkError) -> [BlobInfo] { try await folder.list(prefix: prefix).map(remote) }
    func delete(pathname: String) async throws(SinkError) { try await folder.delete(pathname: pathname) }

    private func remote(_ info: BlobInfo) -> BlobInfo {
        BlobInfo(pathname: info.pathname, url: Self.base + info.pathname, size: info.size, contentType: info.contentType)
    }
}
