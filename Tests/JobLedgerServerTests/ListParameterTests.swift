import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// `GET /api/jobs?cursor=` (empty) answered the first page, though a cursor the list did not
/// give out is a 422, never a first page; `?state=` and a bare `?state` answered the whole
/// list, though `state` is one of the job states (a bare `?limit` was already a 422). An empty
/// `state`, `kind` or `cursor` is a 422 naming it on the API. The dashboard's filter form sends
/// empty fields for "all", and its list still reads them so.
@Suite struct ListParameterTests {
    @Test func emptyFiltersAndCursorsAre422NamingThem() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        try await h.live { c async throws in
            _ = try await c.submitDesign(auth)
            _ = try await h.runner.catchUp()
            for (query, field) in [("cursor=", "cursor"), ("cursor", "cursor"), ("state=", "state"), ("state", "state"), ("kind=", "kind"), ("kind", "kind"),
                                   ("state=queued&kind=", "kind"), ("limit=5&cursor=", "cursor")] {
                let r = try await c.api(.get, "/api/jobs?\(query)", "/api/jobs", headers: auth)
                #expect(r.status == .unprocessableContent && r.body.json?["field"]?.stringValue == field, "\(query): \(r.status) \(r.body.text)")
            }
            let all = try await c.api(.get, "/api/jobs", "/api/jobs", headers: auth)
            guard case .array(let jobs)? = all.body.json?["jobs"] else { Issue.record("no jobs: \(all.body.text)"); return }
            #expect(all.status == .ok && jobs.count == 1)
            let cookie: HTTPFields = [.cookie: "__session=\(try await h.token("user_alice"))"]
            let page = try await c.executeRequest(uri: "/?state=&kind=&cursor=", method: .get, headers: cookie, body: nil)
            #expect(page.status == .ok, "the dashboard's form: \(page.status)")
        }
    }
}
