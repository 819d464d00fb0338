import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// HEAD on a GET route: the GET's status and headers (its `Content-Length` too, as RFC 9110
/// allows), no body; the same checks as the GET (auth, visibility); a stream's HEAD opens no
/// stream and holds no place in the caller's quota.
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
}
