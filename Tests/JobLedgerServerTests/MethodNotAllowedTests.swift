import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// A method no route of an existing path answers (`DELETE /api/jobs/{id}`, `OPTIONS`, a GET of
/// a POST route) is 405 with `Allow`, as RFC 9110 § 15.5.6 has it, not a 404 saying there is
/// nothing there; a path no route has is still 404.
@Suite struct MethodNotAllowedTests {
    @Test func aMethodThePathDoesNotAnswerIs405WithAllow() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            let id = try await c.submitDesign(alice)
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.delete, "/api/jobs/\(id)", "GET, HEAD, POST"), (.options, "/api/jobs", "GET, HEAD"), (.patch, "/api/jobs", "GET, HEAD"),
                (.get, "/api/design", "POST"), (.head, "/api/design", "POST"), (.put, "/api/jobs/\(id)/cancel", "POST"),
                (.post, "/readyz", "GET, HEAD"), (.delete, "/", "GET, HEAD"),
            ]
            for (method, uri, allow) in cases {
                let r = try await c.executeRequest(uri: uri, method: method, headers: alice, body: nil)
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == allow, "\(method) \(uri): \(r.status) \(r.headers[.allow] ?? "-")")
                if method != .head {
                    #expect(r.headers[.contentType] == "application/problem+json" && r.body.json?["type"] == "/problems/method-not-allowed", "\(method) \(uri)")
                }
                #expect(r.headers[.xContentTypeOptions] == "nosniff")
            }
            for uri in ["/nowhere", "/api/jobs/\(id)/nothing", "/blobs/none.png"] {
                #expect(try await c.executeRequest(uri: uri, method: .get, headers: alice, body: nil).status == .notFound, "\(uri)")
            }
            // A method the path answers is answered as before.
            #expect(try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: alice).status == .ok)
        }
    }
}
