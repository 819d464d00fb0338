import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import JobLedgerServer
import Testing

/// `/blobs/…` served whatever file the folder held with its type, on the dashboard's own
/// origin: an `x.html` as `text/html`, an `x.svg` as `image/svg+xml`, with only
/// `frame-ancestors 'none'`, so a browser opening one ran it as a page of this origin. Every
/// blob answer now carries `default-src 'none'; sandbox`, and every type but raster images and
/// plain data is an attachment; images stay inline for the dashboard's `<img>`.
@Suite struct BlobHeadersTests {
    static let sandbox = "default-src 'none'; sandbox"

    @Test func everyBlobAnswerIsSandboxedAndOnlyImagesAndPlainDataAreInline() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let folder = h.dir.appendingPathComponent("log.sqlite.blobs/jobs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let files: [(String, Bool)] = [("x.html", false), ("x.svg", false), ("x.js", false), ("x.xml", false),
                                       ("x.png", true), ("x.jpg", true), ("x.webp", true), ("x.txt", true), ("x.json", true),
                                       ("noext", false), ("x.qqq", false)]
        for (name, _) in files { try Data("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".utf8).write(to: folder.appendingPathComponent(name)) }
        try await h.live { c async throws in
            for (name, inline) in files {
                for method in [HTTPRequest.Method.get, .head] {
                    let r = try await c.executeRequest(uri: "/blobs/jobs/\(name)", method: method, headers: [:], body: nil)
                    #expect(r.status == .ok, "\(name)")
                    let policies = r.headers[values: .contentSecurityPolicy]
                    #expect(policies.contains(Self.sandbox) && policies.contains("frame-ancestors 'none'"), "\(name): \(policies)")
                    #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(name)")
                    #expect((r.headers[.contentDisposition] == "attachment") == !inline, "\(name) \(method): \(r.headers[.contentType] ?? "-") \(r.headers[.contentDisposition] ?? "inline")")
                }
            }
            // A file of no known type went out with no type and inline: now bytes, an attachment.
            for name in ["noext", "x.qqq"] {
                for range in [nil, "bytes=0-3"] {
                    let r = try await c.executeRequest(uri: "/blobs/jobs/\(name)", method: .get, headers: range.map { [.range: $0] } ?? [:], body: nil)
                    #expect(r.status == (range == nil ? .ok : .partialContent), "\(name) \(range ?? "")")
                    #expect(r.headers[.contentType] == "application/octet-stream" && r.headers[.contentDisposition] == "attachment", "\(name) \(range ?? "")")
                }
            }
            // Not only the 200s: a 304, a 404 and a 416 are blob answers too.
            let etag = try #require(try await c.executeRequest(uri: "/blobs/jobs/x.html", method: .get, headers: [:], body: nil).headers[.eTag])
            let answers = [
                try await c.executeRequest(uri: "/blobs/jobs/x.html", method: .get, headers: [.ifNoneMatch: etag], body: nil),
                try await c.executeRequest(uri: "/blobs/jobs/none.html", method: .get, headers: [:], body: nil),
                try await c.executeRequest(uri: "/blobs/jobs/x.png", method: .get, headers: [.range: "bytes=9999-"], body: nil),
            ]
            #expect(answers.map(\.status) == [.notModified, .notFound, .rangeNotSatisfiable])
            for r in answers { #expect(r.headers[values: .contentSecurityPolicy].contains(Self.sandbox), "\(r.status)") }
            // The API's answers keep their own policy only.
            let api = try await c.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(!api.headers[values: .contentSecurityPolicy].contains(Self.sandbox) && api.headers[.contentDisposition] == nil)
        }
    }

    @Test func inlineTypes() {
        for yes in ["image/png", "IMAGE/JPEG; q=1", "text/plain; charset=utf-8", "application/json"] { #expect(BlobHeaders.isInline(yes), "\(yes)") }
        for no in ["image/svg+xml", "text/html", "application/xhtml+xml", "text/javascript", "application/pdf", "text/xml"] { #expect(!BlobHeaders.isInline(no), "\(no)") }
    }
}
