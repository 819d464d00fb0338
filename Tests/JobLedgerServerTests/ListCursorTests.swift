import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// A list cursor is a job id a page gave out (`next_cursor`). Any other id was taken as one:
/// `cursor=garbage` (an id above every generated one) answered the first page again, and the
/// real cursor upper-cased (below every one) an empty page with `next_cursor: null`, which a
/// client takes for the end of the list. Anything the list did not give out is a 422 naming
/// `cursor`, on the API and on the dashboard's list.
@Suite struct ListCursorTests {
    @Test func aCursorTheListDidNotGiveOutIsRefusedNamingIt() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        let admin = try await h.auth("user_root", role: "admin")
        try await h.live { c async throws in
            for _ in 0..<3 { _ = try await c.submitDesign(alice) }
            let bobs = try await c.submitDesign(bob)
            _ = try await h.runner.catchUp()   // the list reads the jobs table
            let first = try await c.api(.get, "/api/jobs?limit=1", "/api/jobs", headers: alice).body.json!
            let cursor = try #require(first["next_cursor"]?.stringValue)
            let next = try await c.api(.get, "/api/jobs?limit=1&cursor=\(cursor)", "/api/jobs", headers: alice)
            guard case .array(let jobs)? = next.body.json?["jobs"] else { Issue.record("no jobs: \(next.body.text)"); return }
            #expect(next.status == .ok && jobs.count == 1)
            // Made up, altered, another owner's job: none is a cursor alice's list gave out.
            for bad in ["garbage", cursor.uppercased(), String(cursor.dropLast()) + (cursor.hasSuffix("0") ? "1" : "0"), bobs] {
                let r = try await c.api(.get, "/api/jobs?limit=1&cursor=\(bad)", "/api/jobs", headers: alice)
                #expect(r.status == .unprocessableContent && r.body.json?["field"] == "cursor", "\(bad): \(r.body.text)")
                #expect(r.body.json?["detail"]?.stringValue?.contains("next_cursor") == true)
                let filtered = try await c.api(.get, "/api/jobs?state=queued&cursor=\(bad)", "/api/jobs", headers: alice)
                #expect(filtered.status == .unprocessableContent, "\(bad), filtered")
            }
            // An admin's list holds every job, bob's too.
            #expect(try await c.api(.get, "/api/jobs?cursor=\(bobs)", "/api/jobs", headers: admin).status == .ok)
            #expect(try await c.api(.get, "/api/jobs?cursor=garbage", "/api/jobs", headers: admin).status == .unprocessableContent)
            // The dashboard's list pages with the same cursor.
            let cookie: HTTPFields = [.cookie: "__session=\(try await h.token("user_alice"))"]
            #expect(try await c.executeRequest(uri: "/?cursor=\(cursor)", method: .get, headers: cookie, body: nil).status == .ok)
            let page = try await c.executeRequest(uri: "/?cursor=garbage", method: .get, headers: cookie, body: nil)
            #expect(page.status == .unprocessableContent, "\(page.body.text.prefix(300))")
        }
    }
}
