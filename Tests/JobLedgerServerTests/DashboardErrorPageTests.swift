import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// What a dashboard page cannot show is said on a page: the jobs list ignored `?state=bogus`
/// (showing every job as if filtered), and a bad cursor, an unknown job or the projections page
/// without the admin role answered the API's problem+json text to a browser. Each is now an
/// HTML page in the layout with the problem's status and its detail, escaped.
@Suite struct DashboardErrorPageTests {
    @Test func problemsArePagesWithTheirStatus() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice: HTTPFields = [.cookie: "__session=\(try await h.token("user_alice"))"]
        try await h.live { c async throws in
            let cases: [(String, HTTPResponse.Status, String)] = [
                ("/?state=bogus", .unprocessableContent, "state must be one of queued, running, completed, failed, canceled"),
                ("/?state=queued&state=failed", .unprocessableContent, "state was given 2 times"),
                ("/?cursor=garbage", .unprocessableContent, "pass the next_cursor of the previous page"),
                ("/jobs/job_nope", .notFound, "job_nope"),
                ("/jobs/%3Cb%3Ebold%3C%2Fb%3E", .notFound, "no such job"),
                ("/projections", .forbidden, "needs the admin role"),
            ]
            for (uri, status, says) in cases {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: alice, body: nil)
                #expect(r.status == status, "\(uri): \(r.body.text.prefix(300))")
                #expect(r.headers[.contentType]?.hasPrefix("text/html") == true, "\(uri): \(r.headers[.contentType] ?? "")")
                #expect(r.body.text.contains("<h1>\(status.reasonPhrase)</h1>") && r.body.text.contains(says), "\(uri): \(r.body.text.prefix(600))")
                #expect(!r.body.text.contains("<b>bold"), "\(uri)")
                // In the layout: the user still sees who they are and the way back.
                #expect(r.body.text.contains("user_alice") && r.body.text.contains("href=\"/\""), "\(uri)")
            }
            // A state the list knows still filters.
            #expect(try await c.executeRequest(uri: "/?state=failed", method: .get, headers: alice, body: nil).status == .ok)
            #expect(try await c.executeRequest(uri: "/?state=", method: .get, headers: alice, body: nil).status == .ok)
        }
    }
}
