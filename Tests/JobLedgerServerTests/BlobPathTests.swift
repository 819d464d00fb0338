import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobLedger
import JobLedgerTestSupport
@testable import JobLedgerServer
import Testing

/// `/blobs/…` is answered as the API's paths are: another method than GET or HEAD was a 404 (the
/// folder is no route), now a 405 with `Allow: GET, HEAD`; `%2e%2e%2fdb.sqlite` was
/// `FileMiddleware`'s 400 `http-error`, now the `invalid-path` other traversals get; and a path
/// spelt with encoded slashes (`jobs%2f<id>%2ffinal.png`), which `FileMiddleware` decodes into
/// the file's path, was served, now a 404 naming the canonical address. Sent over a socket, as
/// written.
@Suite struct BlobPathTests {
    @Test func blobsAnswerOtherMethodsWith405AndOnlyTheirCanonicalSpelling() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let folder = h.dir.appendingPathComponent("log.sqlite.blobs/jobs/abc")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("png".utf8).write(to: folder.appendingPathComponent("final-x.png"))
        try await h.live { c async throws in
            let port = try #require(c.port)
            func send(_ method: String, _ path: String) async throws -> (status: Int, text: String, problem: JSONValue?) {
                let r = try await HostFieldTests.exchange(port: port, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n")
                return (r.status, r.text, HostFieldTests.problem(r.text))
            }
            #expect(try await send("GET", "/blobs/jobs/abc/final-x.png").status == 200)
            for method in ["PUT", "DELETE", "OPTIONS", "POST", "PATCH"] {
                for path in ["/blobs/jobs/abc/final-x.png", "/blobs/jobs/none.png"] {
                    let r = try await send(method, path)
                    #expect(r.status == 405 && r.problem?["type"] == "/problems/method-not-allowed", "\(method) \(path): \(r.text.prefix(300))")
                    #expect(r.text.lowercased().contains("\r\nallow: get, head\r\n"), "\(method) \(path): \(r.text.prefix(300))")
                }
            }
            #expect(try await send("GET", "/blobs/jobs/none.png").status == 404)
            // Traversals, however spelt, are the same 400.
            for path in ["/blobs/%2e%2e%2flog.sqlite", "/blobs/%2E%2E%2Flog.sqlite", "/blobs/jobs/..%2f..%2flog.sqlite", "/blobs/jobs/a..b.png"] {
                let r = try await send("GET", path)
                #expect(r.status == 400 && r.problem?["type"] == "/problems/invalid-path", "\(path): \(r.text.prefix(300))")
            }
            // Encoded slashes and unreserved characters spell the file's path another way.
            for (path, canonical) in [("/blobs/jobs%2fabc%2ffinal-x.png", "/blobs/jobs/abc/final-x.png"), ("/blobs/jobs/abc%2Ffinal-x.png", "/blobs/jobs/abc/final-x.png"),
                                      ("/blobs/jobs/abc/%66inal-x.png", "/blobs/jobs/abc/final-x.png")] {
                let r = try await send("GET", path)
                #expect(r.status == 404, "\(path): \(r.text.prefix(300))")
                #expect(r.problem?["detail"]?.stringValue?.hasSuffix("the address is \(canonical)") == true, "\(path): \(r.text.prefix(400))")
            }
        }
    }

    @Test func onlyUnreservedCharactersAndSlashesAreDecoded() {
        #expect(CanonicalPath.decodingUnreserved("/blobs/a%2Fb%2fc%41%7e%2D") == "/blobs/a/b/cA~-")
        #expect(CanonicalPath.decodingUnreserved("/blobs/a%20b%C3%A9%25%3F%2") == "/blobs/a%20b%C3%A9%25%3F%2")
        #expect(CanonicalPath.problem(method: "GET", path: "/api/jobs/a%2fb") == nil, "a route's segment is not split")
        #expect(CanonicalPath.problem(method: "GET", path: "/blobs/a%20b.png") == nil)
    }
}
