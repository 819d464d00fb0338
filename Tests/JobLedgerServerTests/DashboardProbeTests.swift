import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// What a browser probe of the dashboard found: the "Older jobs" link split a kind such as
/// `r&d c++` into other parameters (page 2 showed no jobs); the job page closed its stream on
/// the first finished message, an earlier failure's for a retried job (the page's own version
/// now tells the last word), and had no way to follow a job without the server's broadcasts;
/// a `sub` with a direction override reversed the page's own text; nothing said not to keep a
/// user's pages in a cache; the policy let any script run; and there was no way to sign out.
@Suite struct DashboardProbeTests {
    @Test func theOlderJobsLinkKeepsAKindWithReservedCharacters() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin: HTTPFields = [.cookie: "__session=\(try await h.token("user_root", role: "admin"))"]
        for _ in 0..<55 {
            _ = try await h.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "r&d c++#1%", input: ["n": 1]))))
        }
        _ = try await h.runner.catchUp()
        try await h.live { c async throws in
            let first = try await c.executeRequest(uri: "/?kind=r%26d%20c%2B%2B%231%25", method: .get, headers: admin, body: nil)
            #expect(first.status == .ok && first.body.text.components(separatedBy: "<tr data-job=").count - 1 == 50)
            let link = try #require(first.body.text.range(of: #"href="/\?cursor=[^"]*""#, options: .regularExpression).map { String(first.body.text[$0]) })
            #expect(link.hasSuffix("&amp;state=&amp;kind=r%26d%20c%2B%2B%231%25\""), "\(link)")
            let next = String(link.dropFirst(6).dropLast()).replacingOccurrences(of: "&amp;", with: "&")
            let second = try await c.executeRequest(uri: next, method: .get, headers: admin, body: nil)
            #expect(second.status == .ok && second.body.text.components(separatedBy: "<tr data-job=").count - 1 == 5, "\(next)")
        }
    }

    @Test func theJobPageKnowsItsVersionAndHowToFollowTheJob() async throws {
        for withHub in [true, false] {
            let h = try await ServerHarness.make(serverHub: withHub); defer { h.cleanup() }
            let alice = try await h.token("user_alice")
            try await h.live { c async throws in
                let r = try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(alice)"],
                                        body: body(#"{"input":{"prompt":"a \u202Ered kite"}}"#))
                let id = try #require(r.body.json?["id"]?.stringValue)
                let page = try await c.executeRequest(uri: "/jobs/\(id)", method: .get, headers: [.cookie: "__session=\(alice)"], body: nil)
                #expect(page.body.text.contains(#"data-version="1" data-live="\#(withHub ? "sse" : "poll")""#), "\(page.body.text.prefix(900))")
                // The prompt is shown, isolated: an override in it ends with its element.
                #expect(page.body.text.contains("prompt <bdi>a \u{202E}red kite</bdi>"))
                #expect(page.body.text.contains("<span class=\"who\"><bdi>user_alice</bdi>") && page.body.text.contains("id=\"signout\""))
            }
        }
    }

    @Test func pagesAndAnswersAreNotCachedAndRunOnlyTheServersScripts() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.token("user_alice")
        try await h.live { c async throws in
            for (uri, headers) in [("/", [HTTPField.Name.cookie: "__session=\(alice)"]), ("/api/jobs", [.authorization: "Bearer \(alice)"]),
                                   ("/healthz", [:])] as [(String, HTTPFields)] {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: headers, body: nil)
                #expect(r.headers[values: .cacheControl] == ["no-store"], "\(uri)")
                let csp = r.headers[values: .contentSecurityPolicy]
                #expect(csp.contains("frame-ancestors 'none'"), "\(uri): \(csp)")
                // A page may run only this server's scripts.
                if uri == "/" { #expect(csp.contains { $0.contains("script-src 'self'") && !$0.contains("unsafe-eval") }, "\(csp)") }
            }
            // A route with its own caching rule keeps it.
            #expect(try await c.executeRequest(uri: "/static/dashboard.js", method: .get, headers: [:], body: nil).headers[.cacheControl] == "no-cache")
            // Without dead letters there is nothing to re-drive, and no button says otherwise.
            let admin = try await h.token("user_root", role: "admin")
            let projections = try await c.executeRequest(uri: "/projections", method: .get, headers: [.cookie: "__session=\(admin)"], body: nil)
            #expect(projections.body.text.contains("data-projection=\"broadcast\"") && !projections.body.text.contains("Re-drive dead"))
        }
    }
}
