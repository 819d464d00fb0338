import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// A blob's ETag is weak (`W/"…"`, from the file's time and size). `If-Range` with it gave a
/// 206, though RFC 9110 § 13.1.5 needs a strong match (a weak one is the whole file, 200), and
/// `If-Match: "nope"` or an `If-Unmodified-Since` before the file's time gave the file (200)
/// where §§ 13.1.1 and 13.1.4 say 412. They are answered as the RFC has it now.
@Suite struct BlobPreconditionTests {
    static let old = Date(timeIntervalSince1970: 1_700_000_000)

    /// A 1000-byte blob last changed at `old`, and its URI.
    static func blob(_ h: ServerHarness, at date: Date = old) throws -> String {
        let folder = h.dir.appendingPathComponent("log.sqlite.blobs/jobs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("final-x.png")
        try Data((0..<1000).map { UInt8($0 % 251) }).write(to: file)
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file.path)
        return "/blobs/jobs/final-x.png"
    }

    @Test func ifMatchAndIfUnmodifiedSinceThatFailAre412WithTheValidators() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let uri = try Self.blob(h)
        try await h.live { c async throws in
            let full = try await c.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
            let etag = try #require(full.headers[.eTag]), lastModified = try #require(full.headers[.lastModified])
            let past = "Sun, 06 Nov 1994 08:49:37 GMT", future = "Fri, 01 Jan 2100 00:00:00 GMT"
            let failing: [(String, HTTPFields)] = [
                ("If-Match with another tag", [.ifMatch: #""nope""#]),
                ("If-Match with the weak tag itself (strong comparison)", [.ifMatch: etag]),
                ("If-Match with the tag made strong", [.ifMatch: String(etag.dropFirst(2))]),
                ("If-Unmodified-Since before the file's time", [.ifUnmodifiedSince: past]),
                ("the same, with a range", [.ifUnmodifiedSince: past, .range: "bytes=0-9"]),
            ]
            for (what, headers) in failing {
                for method in [HTTPRequest.Method.get, .head] {
                    let r = try await c.executeRequest(uri: uri, method: method, headers: headers, body: nil)
                    #expect(r.status == .preconditionFailed, "\(what) (\(method)): \(r.status)")
                    #expect(r.headers[.eTag] == etag && r.headers[.lastModified] == lastModified, "\(what)")
                    if method == .get {
                        #expect(r.headers[.contentType] == "application/problem+json" && r.body.json?["type"] == "/problems/precondition-failed", "\(what): \(r.body.text)")
                    }
                }
            }
            let passing: [(String, HTTPFields)] = [
                ("If-Match: *", [.ifMatch: "*"]),
                ("a list with *", [.ifMatch: #""nope", *"#]),
                ("If-Unmodified-Since at the file's time", [.ifUnmodifiedSince: lastModified]),
                ("If-Unmodified-Since after it", [.ifUnmodifiedSince: future]),
                ("If-Unmodified-Since that is not a date (ignored)", [.ifUnmodifiedSince: "yesterday"]),
                ("If-Unmodified-Since beside If-Match, which wins", [.ifMatch: "*", .ifUnmodifiedSince: past]),
            ]
            for (what, headers) in passing {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: headers, body: nil)
                #expect(r.status == .ok && r.body.readableBytes == 1000, "\(what): \(r.status)")
            }
            // No file: `If-Match: *` fails on nothing there, a 404 as without it.
            #expect(try await c.executeRequest(uri: "/blobs/jobs/none.png", method: .get, headers: [.ifMatch: "*"], body: nil).status == .notFound)
        }
    }

    @Test func ifRangeNeedsAStrongValidator() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let uri = try Self.blob(h)
        try await h.live { c async throws in
            let full = try await c.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
            let etag = try #require(full.headers[.eTag]), lastModified = try #require(full.headers[.lastModified])
            // The weak ETag (and that tag made strong, which is not the file's) is no match: the whole file.
            for value in [etag, String(etag.dropFirst(2)), "Sun, 06 Nov 1994 08:49:37 GMT", "not a validator"] {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: [.range: "bytes=0-9", .ifRange: value], body: nil)
                #expect(r.status == .ok && r.body.readableBytes == 1000, "\(value): \(r.status)")
            }
            // The file's Last-Modified, long past: the range.
            let part = try await c.executeRequest(uri: uri, method: .get, headers: [.range: "bytes=0-9", .ifRange: lastModified], body: nil)
            #expect(part.status == .partialContent && part.body.readableBytes == 10, "\(part.status)")
            // A range past the end under a matching If-Range is the 416 it is without one.
            let beyond = try await c.executeRequest(uri: uri, method: .get, headers: [.range: "bytes=5000-", .ifRange: lastModified], body: nil)
            #expect(beyond.status == .rangeNotSatisfiable, "\(beyond.status)")
        }
    }

    @Test func aDateIsStrongOnlyOnceItsSecondIsOver() {
        let lm: Int64 = 1_700_000_000
        #expect(BlobConditionals.ifRangeMatches("Tue, 14 Nov 2023 22:13:20 GMT", etag: #"W/"a""#, lastModified: lm, now: lm + 1))
        #expect(!BlobConditionals.ifRangeMatches("Tue, 14 Nov 2023 22:13:20 GMT", etag: #"W/"a""#, lastModified: lm, now: lm))
        #expect(!BlobConditionals.ifRangeMatches("Tue, 14 Nov 2023 22:13:21 GMT", etag: #"W/"a""#, lastModified: lm, now: lm + 9))
        #expect(BlobConditionals.ifRangeMatches(#""a""#, etag: #""a""#, lastModified: lm, now: lm), "a strong tag matches a strong ETag")
        #expect(!BlobConditionals.ifRangeMatches(#"W/"a""#, etag: #"W/"a""#, lastModified: lm, now: lm))
        #expect(!BlobConditionals.ifRangeMatches(#""a""#, etag: #"W/"a""#, lastModified: lm, now: lm))
        #expect(!BlobConditionals.ifRangeMatches("*", etag: #""a""#, lastModified: lm, now: lm))
        #expect(IfMatch([#""a", W/"b""#])?.strongTags == [#""a""#])
        #expect(HTTPDate.seconds("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.seconds("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.seconds("Sun Nov  6 08:49:37 1994") == 784_111_777)
    }
}
