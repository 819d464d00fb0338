import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import JobLedgerServer

/// `/blobs/…` serves regular files inside the blob folder and nothing else: a symbolic link in
/// the folder that leads out of it (to the log, to another folder) is not followed, and a
/// folder is not found.
@Suite struct BlobFolderFilesTests {
    @Test func linksLeadingOutOfTheFolderAndFoldersAreNotServed() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let fm = FileManager.default
        let blobs = h.dir.appendingPathComponent("log.sqlite.blobs")
        let jobFolder = blobs.appendingPathComponent("jobs/j1")
        try fm.createDirectory(at: jobFolder, withIntermediateDirectories: true)
        try Data("final-bytes".utf8).write(to: jobFolder.appendingPathComponent("final.png"))
        let secret = h.dir.appendingPathComponent("secret.txt")
        try Data("not for the web".utf8).write(to: secret)
        try fm.createSymbolicLink(atPath: blobs.appendingPathComponent("log-link").path, withDestinationPath: "../log.sqlite")
        try fm.createSymbolicLink(atPath: blobs.appendingPathComponent("secret-link").path, withDestinationPath: secret.path)
        try fm.createSymbolicLink(atPath: blobs.appendingPathComponent("outside").path, withDestinationPath: h.dir.path)
        try fm.createSymbolicLink(atPath: blobs.appendingPathComponent("alias.png").path, withDestinationPath: "jobs/j1/final.png")
        try await h.live { c async throws in
            let file = try await c.executeRequest(uri: "/blobs/jobs/j1/final.png", method: .get, headers: [:], body: nil)
            #expect(file.status == .ok && file.body.text == "final-bytes")
            // A link that stays inside the folder is harmless and served.
            let alias = try await c.executeRequest(uri: "/blobs/alias.png", method: .get, headers: [:], body: nil)
            #expect(alias.status == .ok && alias.body.text == "final-bytes")
            for uri in ["/blobs/log-link", "/blobs/secret-link", "/blobs/outside/secret.txt", "/blobs/outside/log.sqlite",
                        "/blobs/jobs/j1", "/blobs/jobs/j1/", "/blobs/", "/blobs/%2e%2e/secret.txt", "/blobs/jobs/j1/missing.png"] {
                for method in [HTTPRequest.Method.get, .head] {
                    let r = try await c.executeRequest(uri: uri, method: method, headers: [:], body: nil)
                    #expect(r.status == .notFound || r.status == .badRequest, "\(method) \(uri): \(r.status)")
                    #expect(!r.body.text.contains("not for the web") && !r.body.text.contains("SQLite format"), "\(uri)")
                }
            }
        }
    }
}
