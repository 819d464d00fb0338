import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// HEAD on a GET route: the GET's status and headers (its `Content-Length` too, as RFC 9110
/// allows), no body; the same checks as the GET (auth, visibility); a stream's HEAD opens no
/// stream and holds no place in the caller's quota. A stream's GET is endless and chunked, so
/// its HEAD has no `Content-Length` (Hummingbird's own HEAD sent `Content-Length: 0`).
@Suite struct HeadRequestTests {

    @Test func headAnswersAsTheGetWouldWithoutABody() async throws {
        let h = try await ServerHarness.make()
        defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        try await h.live { c async throws in
            let id = try await c.submitDesign(alice)
            for (path, headers) in [("/healthz", HTTPFields()), ("/readyz", [:]), ("/api/jobs/\(id)", alice), ("/api/jobs/\(id)/events", alice),
                                    ("/openapi.json", [:])] {
                let get = try await c.executeRequest(uri: path, method: .get, headers: headers, body: nil)
                let head = try await c.executeRequest(uri: path, method: .head, headers: headers, body: nil)
                #expect(get.status == .ok, "GET \(path)")
                #expect(head.status == .ok, "HEAD \(path)")
                #expect(head.body.readableBytes == 0, "HEAD \(path) sent a body")
                #expect(head.headers[.contentType] == get.headers[.contentType], "HEAD \(path)")
                #expect(head.headers[.contentLength] == "\(get.body.readableBytes)", "HEAD \(path): \(head.headers[.contentLength] ?? "no Content-Length")")
            }
            // The GET's checks hold for HEAD: no token, 401; another user's job, 404.
            #expect(try await c.executeRequest(uri: "/api/jobs/\(id)", method: .head, headers: [:], body: nil).status == .unauthorized)
            #expect(try await c.executeRequest(uri: "/api/jobs/\(id)", method: .head, headers: bob, body: nil).status == .notFound)
            // Still no route for what no GET serves.
            #expect(try await c.executeRequest(uri: "/api/nothing-here", method: .head, headers: alice, body: nil).status == .notFound)
        }
    }

    @Test func aStreamsHeadOpensNoStream() async throws {
        let h = try await ServerHarness.make()
        defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            let id = try await c.submitDesign(alice)
            for path in ["/api/jobs/\(id)/stream", "/api/live?jobs=\(id)"] {
                let head = try await c.executeRequest(uri: path, method: .head, headers: alice, body: nil)
                #expect(head.status == .ok, "HEAD \(path)")
                #expect(head.headers[.contentType] == "text/event-stream", "HEAD \(path)")
                #expect(head.body.readableBytes == 0, "HEAD \(path) sent a body")
            }
            #expect(h.server.streamQuota.openStreams(of: "user_alice") == 0, "a HEAD held a place in the stream quota")
        }
    }

    /// Read over a socket, as sent (a test client may add or drop framing headers): the HEAD's
    /// head names no length, no body follows it (not even the last chunk), and the next
    /// response on the connection starts right after it.
    @Test func aStreamsHeadStatesNoContentLengthOnTheWire() async throws {
        let h = try await ServerHarness.make()
        defer { h.cleanup() }
        let token = try await h.token("user_alice")
        let alice: HTTPFields = [.authorization: "Bearer \(token)"]
        try await h.live { c async throws in
            let port = try #require(c.port)
            let id = try await c.submitDesign(alice)
            for path in ["/api/jobs/\(id)/stream", "/api/live?jobs=\(id)"] {
                let text = try await HeaderLimitTests.raw(port: port, "HEAD \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
                                                          + "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                let parts = text.components(separatedBy: "\r\n\r\n")
                let head = parts[0].lowercased()
                #expect(head.hasPrefix("http/1.1 200 ok\r\n"), "HEAD \(path): \(text.prefix(300))")
                #expect(head.contains("content-type: text/event-stream"), "HEAD \(path): \(head)")
                #expect(!head.contains("content-length"), "HEAD \(path): \(head)")
                // The next bytes are the GET's status line: no body, no chunk terminator.
                #expect(parts.count > 1 && parts[1].hasPrefix("HTTP/1.1 200 OK\r\n"), "HEAD \(path): \(text)")
            }
            #expect(h.server.streamQuota.openStreams(of: "user_alice") == 0, "a HEAD held a place in the stream quota")
            // The same checks as the GET: no token is 401, whatever the path.
            let bare = try await HeaderLimitTests.raw(port: port, "HEAD /api/jobs/\(id)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(bare.hasPrefix("HTTP/1.1 401"), "\(bare.prefix(200))")
        }
    }
}
