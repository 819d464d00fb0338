import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// The server-rendered dashboard: sign-in without a session, the jobs list, a job page, the
/// projections page, its script and style sheet; HTML escapes what users typed.
@Suite struct DashboardTests {
    @Test func pagesRenderForTheSessionCookie() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.token("user_root", role: "admin")
        let cookie: HTTPFields = [.cookie: "__session=\(admin)"]
        try await h.live { c async throws in
            let signin = try await c.executeRequest(uri: "/", method: .get, headers: [:], body: nil)
            #expect(signin.status == .unauthorized && signin.body.text.contains("id=\"signin\""))
            let r = try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(admin)"],
                                    body: body(#"{"input":{"prompt":"<script>alert(1)</script>"}}"#))
            let id = r.body.json!["id"]!.stringValue!
            _ = try await h.runner.catchUp()   // the list reads the jobs table
            let list = try await c.executeRequest(uri: "/", method: .get, headers: cookie, body: nil)
            #expect(list.status == .ok && list.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(list.body.text.contains("data-job=\"\(id)\""))
            #expect(list.body.text.contains("<bdi>user_root</bdi> · admin"))
            let filtered = try await c.executeRequest(uri: "/?state=completed", method: .get, headers: cookie, body: nil)
            #expect(!filtered.body.text.contains("data-job=\"\(id)\""))
            #expect(filtered.body.text.contains("No jobs match these filters."))
            // The counts are counted under the kind filter: their links keep it (they dropped
            // it, and "queued 0" under kind zzz listed every queued job).
            let kinded = try await c.executeRequest(uri: "/?kind=r%26d%20zzz", method: .get, headers: cookie, body: nil)
            #expect(kinded.body.text.contains("<a href=\"/?state=queued&amp;kind=r%26d%20zzz\">queued <b>0</b></a>"), "\(kinded.body.text)")
            #expect(kinded.body.text.contains("<a href=\"/?state=&amp;kind=r%26d%20zzz\">all <b>0</b></a>"))
            let page = try await c.executeRequest(uri: "/jobs/\(id)", method: .get, headers: cookie, body: nil)
            #expect(page.status == .ok && page.body.text.contains("id=\"travel\"") && page.body.text.contains("id=\"cancel\""))
            let other = try await c.executeRequest(uri: "/jobs/\(id)", method: .get, headers: [.cookie: "__session=\(try await h.token("user_bob"))"], body: nil)
            #expect(other.status == .notFound)
            let projections = try await c.executeRequest(uri: "/projections", method: .get, headers: cookie, body: nil)
            #expect(projections.body.text.contains("data-projection=\"broadcast\""))
            let js = try await c.executeRequest(uri: "/static/dashboard.js", method: .get, headers: [:], body: nil)
            #expect(js.status == .ok && js.body.text.contains("EventSource"))
            // Nothing the user typed reaches the page unescaped (the prompt is not on the list,
            // but the history API carries it as JSON, never as HTML).
            #expect(!list.body.text.contains("<script>alert(1)"))
        }
    }

    /// A job that failed, was retried and completed showed its old failure in red beside its
    /// final image: the page gives the last error only while it is the job's word (failed, or
    /// queued or running again after it).
    @Test func anEarlierAttemptsErrorIsNotShownOnACompletedJob() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.token("user_root", role: "admin")
        let job = try JobID("job-retried")
        let lease = h.ledger.configuration.clock().adding(milliseconds: 60_000)
        _ = try await h.ledger.append([
            NewEvent(job: job, payload: .queued(.init(kind: "design", maxAttempts: 2))),
            NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease))),
            NewEvent(job: job, payload: .failed(.init(code: "render_timeout", message: "too slow", retryable: true, attempt: 1))),
        ])
        func errorLine() async throws -> String {
            try await h.live { c async throws in
                let page = try await c.executeRequest(uri: "/jobs/\(job)", method: .get, headers: [.cookie: "__session=\(admin)"], body: nil)
                let text = page.body.text
                guard let r = text.range(of: "<p id=\"error\" class=\"error\">"), let end = text[r.upperBound...].range(of: "</p>") else { return "?" }
                return String(text[r.upperBound..<end.lowerBound])
            }
        }
        #expect(try await errorLine() == "render_timeout: too slow", "queued again after the failure: its error is the word")
        _ = try await h.ledger.append([
            NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 2, leaseDeadline: lease))),
            NewEvent(job: job, payload: .completed(.init(attempt: 2))),
        ])
        #expect(try await errorLine() == "")
    }
}
