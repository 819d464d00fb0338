import Foundation
import HTTPTypes
import HummingbirdTesting
@testable import JobLedgerServer
import Testing

/// `If-None-Match` on a blob, as RFC 9110 § 13.1.2 has it: a list of tags, `*`, and the weak
/// comparison (`"x"` matches `W/"x"`) answer 304, before any range; a list that does not match
/// gets the file, and `If-Modified-Since` is then ignored.
@Suite struct BlobConditionalTests {
    @Test func theHeaderIsReadAsAListOfTagsOrAStar() {
        let list = IfNoneMatch([#""a", W/"b",  "c,d" "#, #"W/"e""#, "junk, \"\""])
        #expect(list?.any == false)
        #expect(list?.tags == [#""a""#, #""b""#, #""c,d""#, #""e""#, #""""#])
        #expect(list?.matches(etag: #"W/"b""#) == true && list?.matches(etag: #""a""#) == true && list?.matches(etag: #"W/"c,d""#) == true)
        #expect(list?.matches(etag: #"W/"f""#) == false && list?.matches(etag: "junk") == false)
        #expect(IfNoneMatch(["*"])?.matches(etag: #"W/"anything""#) == true)
        #expect(IfNoneMatch([]) == nil)
        #expect(IfNoneMatch([#""a b""#])?.tags == [], "a space is no etagc")
    }

    @Test func aListAStarOrTheStrongFormIs304AndAMissIsTheFile() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let folder = h.dir.appendingPathComponent("log.sqlite.blobs/jobs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 1000).write(to: folder.appendingPathComponent("final-x.png"))
        let uri = "/blobs/jobs/final-x.png"
        try await h.live { c async throws in
            let full = try await c.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
            let etag = try #require(full.headers[.eTag])
            #expect(etag.hasPrefix("W/\""))
            let strong = String(etag.dropFirst(2))
            for (what, value) in [("a list", #""stale", "#+etag), ("a list, the tag strong", #""stale",  "#+strong+" , \"older\""),
                                  ("the tag strong", strong), ("*", "*")] {
                for method in [HTTPRequest.Method.get, .head] {
                    let r = try await c.executeRequest(uri: uri, method: method, headers: [.ifNoneMatch: value], body: nil)
                    #expect(r.status == .notModified, "\(what) (\(method)): \(r.status)")
                    #expect(r.body.readableBytes == 0 && r.headers[.eTag] == etag, "\(what)")
                }
                // Before the range (RFC 9110 § 13.2.2).
                let ranged = try await c.executeRequest(uri: uri, method: .get, headers: [.ifNoneMatch: value, .range: "bytes=0-9"], body: nil)
                #expect(ranged.status == .notModified, "\(what) with a range: \(ranged.status)")
            }
            // No match: the file, and If-Modified-Since (which alone would be 304) is ignored.
            let future = "Fri, 01 Jan 2100 00:00:00 GMT"
            let miss = try await c.executeRequest(uri: uri, method: .get, headers: [.ifNoneMatch: #""stale", W/"older""#, .ifModifiedSince: future], body: nil)
            #expect(miss.status == .ok && miss.body.readableBytes == 1000, "\(miss.status)")
            let part = try await c.executeRequest(uri: uri, method: .get, headers: [.ifNoneMatch: #""stale""#, .range: "bytes=0-9"], body: nil)
            #expect(part.status == .partialContent && part.body.readableBytes == 10, "\(part.status)")
            // No file: `*` matches nothing.
            let none = try await c.executeRequest(uri: "/blobs/jobs/none.png", method: .get, headers: [.ifNoneMatch: "*"], body: nil)
            #expect(none.status == .notFound)
        }
    }
}
