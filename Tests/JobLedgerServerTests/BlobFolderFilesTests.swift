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
            // A NUL ends the path where the system reads it: x.png%00.html would be x.png, served
            // as text/html. A FIFO is no file to serve (opening it would block).
            #expect(mkfifo(blobs.appendingPathComponent("pipe.png").path, 0o600) == 0)
            for uri in ["/blobs/jobs/j1/final.png%00.html", "/blobs/jobs/j1/final.png%0a", "/blobs/pipe.png"] {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
                #expect(r.status == .notFound || r.status == .badRequest, "\(uri): \(r.status)")
                #expect(r.headers[.contentType]?.contains("text/html") != true, "\(uri)")
            }
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

    /// Ranges as RFC 9110 has them, and never a body byte past `Content-Length`: each answer is
    /// followed by a `/healthz` on the same connection, which an extra byte would garble.
    @Test func rangesAreAnsweredAsTheRFCSaysAndKeepTheConnectionFramed() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let folder = h.dir.appendingPathComponent("log.sqlite.blobs/jobs/j1")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("final-bytes".utf8).write(to: folder.appendingPathComponent("final.png"))  // 11 bytes
        let cases: [(range: String, status: HTTPResponse.Status, body: String, contentRange: String?)] = [
            ("bytes=0-3", .partialContent, "fina", "bytes 0-3/11"),
            ("bytes=5-100", .partialContent, "-bytes", "bytes 5-10/11"),
            ("bytes=6-", .partialContent, "bytes", "bytes 6-10/11"),
            ("bytes=-5", .partialContent, "bytes", "bytes 6-10/11"),
            ("bytes=-50", .partialContent, "final-bytes", "bytes 0-10/11"),
            ("bytes=10-10", .partialContent, "s", "bytes 10-10/11"),
            ("bytes=11-", .rangeNotSatisfiable, "", "bytes */11"),
            ("bytes=999999-", .rangeNotSatisfiable, "", "bytes */11"),
            ("bytes=11-20", .rangeNotSatisfiable, "", "bytes */11"),
            ("bytes=-0", .rangeNotSatisfiable, "", "bytes */11"),
            ("items=0-5", .ok, "final-bytes", nil),
            ("bytes=0-1,4-5", .ok, "final-bytes", nil),
            ("bytes=5-2", .ok, "final-bytes", nil),
            ("bytes=x-3", .ok, "final-bytes", nil),
            ("bytes=-", .ok, "final-bytes", nil),
        ]
        try Data().write(to: folder.appendingPathComponent("empty.png"))
        try await h.live { c async throws in
            for (range, status, expected, contentRange) in cases {
                for method in [HTTPRequest.Method.get, .head] {
                    let r = try await c.executeRequest(uri: "/blobs/jobs/j1/final.png", method: method, headers: [.range: range], body: nil)
                    // A HEAD ignores the range: it describes the whole file.
                    let (status, expected, contentRange) = method == .get ? (status, expected, contentRange) : (.ok, "final-bytes", nil)
                    #expect(r.status == status, "\(method) \(range): \(r.status)")
                    #expect(r.headers[.contentRange] == contentRange, "\(method) \(range): \(r.headers[.contentRange] ?? "none")")
                    if method == .get { #expect(r.body.text == expected, "\(range): \(r.body.text.debugDescription)") }
                    let length = r.headers[.contentLength].flatMap { Int($0) }
                    #expect(length == expected.utf8.count, "\(method) \(range): Content-Length \(length.map(String.init) ?? "none")")
                    let next = try await c.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
                    #expect(next.status == .ok, "the connection after \(method) \(range)")
                }
            }
            // Conditions come before ranges: an If-Range that no longer matches gets the whole
            // file, not a 416; so does a range of an empty file (its last bytes are nothing).
            let stale = try await c.executeRequest(uri: "/blobs/jobs/j1/final.png", method: .get,
                                                   headers: [.range: "bytes=50-", .ifRange: "\"an-old-etag\""], body: nil)
            #expect(stale.status == .ok && stale.body.text == "final-bytes", "\(stale.status)")
            let empty = try await c.executeRequest(uri: "/blobs/jobs/j1/empty.png", method: .get, headers: [.range: "bytes=-5"], body: nil)
            #expect(empty.status == .ok && empty.body.readableBytes == 0, "\(empty.status)")
            #expect(try await c.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil).status == .ok)
        }
    }
}
