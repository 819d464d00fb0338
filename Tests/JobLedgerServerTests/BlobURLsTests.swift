import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// A log served from another path than the one it was written under (through a symbolic link,
/// a copy, a moved file): its broadcast messages hold `file://` URLs under the writer's folder.
/// The SSE stream and the history's messages sent them raw (the server's absolute path), while
/// `GET /api/jobs/{id}` gave `/blobs/…`: every answer now maps them as the row does.
@Suite struct BlobURLsTests {
    @Test func aLogServedThroughALinkSendsBlobPathsInEveryAnswer() async throws {
        var h = try await ServerHarness.make(); defer { h.cleanup() }
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-link-\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: h.dir)
        defer { try? FileManager.default.removeItem(at: link) }
        h.server = JobLedgerServer(ledger: h.ledger, engine: h.engine, hub: h.hub, runner: h.runner, auth: h.server.auth,
                                   limiter: h.server.limiter, kinds: h.server.kinds,
                                   blobFolder: link.appendingPathComponent("log.sqlite.blobs").path, now: h.clock.closure)
        let auth = try await h.auth()
        let id = try await h.live { c async throws in
            try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(StreamTests.design)).body.json!["id"]!.stringValue!
        }
        try await h.workAndProject()
        try await h.live { c async throws in
            let row = try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: auth).body.json!
            let result = try #require(row["result_url"]?.stringValue), preview = try #require(row["preview_url"]?.stringValue)
            #expect(result.hasPrefix("/blobs/jobs/\(id)/final-"), "\(result)")
            let stream = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth).body.text
            #expect(!stream.contains("file:"), "\(stream)")
            let messages = StreamTests.data(stream).compactMap { try? JSONValue(parsing: $0) }
            #expect(messages.last?["result_url"]?.stringValue == result, "\(stream)")
            #expect(messages.contains { $0["preview_url"]?.stringValue == preview }, "\(stream)")
            let history = try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.text
            #expect(!history.contains("file:"), "\(history.prefix(600))")
            #expect(history.contains(result))
        }
    }

    /// A server with no blob folder (its blobs go to Vercel Blob) serving a log whose earlier
    /// artefacts went to a folder: those `file://` URLs name paths on the server and were given to
    /// clients as recorded, by the row, the list, the stream and the history. Now null.
    @Test func aServerWithNoFolderGivesNoFileURLToAnyone() async throws {
        var h = try await ServerHarness.make(); defer { h.cleanup() }
        h.server = JobLedgerServer(ledger: h.ledger, engine: h.engine, hub: h.hub, runner: h.runner, auth: h.server.auth,
                                   limiter: h.server.limiter, kinds: h.server.kinds, blobFolder: nil, now: h.clock.closure)
        let auth = try await h.auth()
        let id = try await h.live { c async throws in
            try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(StreamTests.design)).body.json!["id"]!.stringValue!
        }
        try await h.workAndProject()
        // Recorded as file:// by the folder store the harness publishes with.
        let recorded = try h.ledger.artefactURLs(of: try #require(try await h.ledger.state(of: JobID(id))))
        #expect(recorded.result?.hasPrefix("file:") == true, "\(recorded)")
        try await h.live { c async throws in
            let row = try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: auth).body.json!
            #expect(row["state"] == "completed" && row["result_url"] == .null && row["preview_url"] == .null, "\(row)")
            let list = try await c.api(.get, "/api/jobs", "/api/jobs", headers: auth).body.text
            #expect(list.contains(id) && !list.contains("file:"), "\(list.prefix(600))")
            let stream = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth).body.text
            #expect(stream.contains("completed") && !stream.contains("file:"), "\(stream.prefix(600))")
            let history = try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.text
            #expect(history.contains("completed") && !history.contains("file:"), "\(history.prefix(600))")
        }
    }

    /// The mapping itself: a `file://` URL under any folder becomes the `/blobs/` path of its
    /// pathname when that file is here, null when it is not; other URLs pass unchanged.
    @Test func fileURLsMapToPublishedPathsOrNull() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-bloburls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("jobs/j1"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("jobs/j1/final-00.png"))
        let urls = BlobURLs(folder: dir.path)
        #expect(urls.client("file:///elsewhere/log.sqlite.blobs/jobs/j1/final-00.png", job: "j1") == "/blobs/jobs/j1/final-00.png")
        #expect(urls.client("file:///elsewhere/log.sqlite.blobs/jobs/j1/lowres-11.png", job: "j1") == nil)
        #expect(urls.client("file:///elsewhere/jobs/j2/final-00.png", job: "j1") == nil)
        #expect(urls.client("https://x.public.blob.vercel-storage.com/jobs/j1/final-00.png", job: "j1") == "https://x.public.blob.vercel-storage.com/jobs/j1/final-00.png")
        let text = #"{"job":"j1","preview_url":"file:///a/jobs/j1/lowres-11.png","result_url":"file:///a/jobs/j1/final-00.png","seq":3}"#
        let mapped = try JSONValue(parsing: urls.message(text))
        #expect(mapped["preview_url"] == .null && mapped["result_url"] == "/blobs/jobs/j1/final-00.png" && mapped["seq"] == 3)
        #expect(urls.message(#"{"job":"j1","result_url":null}"#) == #"{"job":"j1","result_url":null}"#)
        // No folder here: a file:// URL is null (in any case), another store's is as recorded.
        let none = BlobURLs(folder: nil)
        #expect(none.client("file:///elsewhere/log.sqlite.blobs/jobs/j1/final-00.png", job: "j1") == nil)
        #expect(none.client("FILE:///elsewhere/log.sqlite.blobs/jobs/j1/final-00.png", job: "j1") == nil)
        #expect(none.client("https://x.public.blob.vercel-storage.com/jobs/j1/final-00.png", job: "j1") == "https://x.public.blob.vercel-storage.com/jobs/j1/final-00.png")
        let noneMapped = try JSONValue(parsing: none.message(text))
        #expect(noneMapped["preview_url"] == .null && noneMapped["result_url"] == .null && noneMapped["seq"] == 3)
    }
}
