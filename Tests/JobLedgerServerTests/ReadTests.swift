import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// Reading: a job, its history with hashes and chain status, the paginated list, blobs with
/// ETag and ranges, and the operational routes.
@Suite struct ReadTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#

    @Test func jobHistoryAndBlobs() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await h.live { c async throws in
            try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design)).body.json!["id"]!.stringValue!
        }
        try await h.workAndProject()
        try await h.live { c async throws in
            let job = try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: auth).body.json!
            #expect(job["state"] == "completed" && job["progress"]?.doubleValue == 1)
            let result = try #require(job["result_url"]?.stringValue)
            #expect(result.hasPrefix("/blobs/jobs/\(id)/final-"))
            #expect(job["preview_url"]?.stringValue?.hasPrefix("/blobs/jobs/\(id)/lowres-") == true)

            let history = try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.json!
            guard case .array(let events)? = history["events"] else { Issue.record("no events"); return }
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["queued", "started", "progress", "lowres", "progress", "completed"])
            #expect(events.allSatisfy { $0["chain_verified"] == true && ($0["hash"]?.stringValue?.count ?? 0) == 64 })
            #expect(events[1]["prev_hash"] == events[0]["hash"])
            #expect(history["chain"]?["broken_at"] == nil)
            // What the browser was sent as of the preview: the preview URL, served here.
            #expect(events[3]["broadcast"]?["message"]?["preview_url"]?.stringValue?.hasPrefix("/blobs/") == true)
            #expect(events[5]["broadcast"]?["status"] == "sent")

            // The blob: ETag, conditional GET, range.
            let full = try await c.executeRequest(uri: result, method: .get, headers: [:], body: nil)
            #expect(full.status == .ok && full.body.readableBytes == 4096)
            let etag = try #require(full.headers[.eTag])
            let again = try await c.executeRequest(uri: result, method: .get, headers: [.ifNoneMatch: etag], body: nil)
            #expect(again.status == .notModified)
            let part = try await c.executeRequest(uri: result, method: .get, headers: [.range: "bytes=0-99"], body: nil)
            #expect(part.status == .partialContent && part.body.readableBytes == 100)
            #expect(part.headers[.contentRange] == "bytes 0-99/4096")
            let outside = try await c.executeRequest(uri: "/blobs/../log.sqlite", method: .get, headers: [:], body: nil)
            #expect(outside.status == .notFound || outside.status == .badRequest)
        }
    }

    @Test func listPagesNewestFirstWithCountsAndFilters() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        try await h.live { c async throws in
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design)).body.json!["id"]!.stringValue!) }
            _ = try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: bob, body: body(#"{"input":{"anything":[1,2]}}"#))
            // The list reads the jobs table: once the projection has taken the jobs in.
            _ = try await h.runner.catchUp()
            let p1 = try await c.api(.get, "/api/jobs?limit=2", "/api/jobs", headers: alice).body.json!
            guard case .array(let jobs1)? = p1["jobs"] else { Issue.record("no jobs"); return }
            #expect(jobs1.map { $0["id"]!.stringValue! } == [ids[4], ids[3]])
            #expect(p1["counts"]?["queued"] == 5)
            let cursor = try #require(p1["next_cursor"]?.stringValue)
            let p2 = try await c.api(.get, "/api/jobs?limit=2&cursor=\(cursor)", "/api/jobs", headers: alice).body.json!
            guard case .array(let jobs2)? = p2["jobs"] else { Issue.record("no jobs"); return }
            #expect(jobs2.map { $0["id"]!.stringValue! } == [ids[2], ids[1]])
            let p3 = try await c.api(.get, "/api/jobs?limit=2&cursor=\(p2["next_cursor"]!.stringValue!)", "/api/jobs", headers: alice).body.json!
            #expect(p3["next_cursor"] == .null)
            #expect(try await c.api(.get, "/api/jobs?state=running", "/api/jobs", headers: alice).body.json?["jobs"] == .array([]))
            #expect(try await c.api(.get, "/api/jobs?kind=echo", "/api/jobs", headers: alice).body.json?["jobs"] == .array([]))
            for (q, field) in [("state=sleeping", "state"), ("limit=0", "limit"), ("limit=x", "limit"), ("cursor=%20", "cursor")] {
                let r = try await c.api(.get, "/api/jobs?\(q)", "/api/jobs", headers: alice)
                #expect(r.status == .unprocessableContent && r.body.json?["field"]?.stringValue == field, "\(q)")
            }
        }
    }

    @Test func operationalRoutes() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        try await h.live { c async throws in
            #expect(try await c.api(.get, "/healthz", "/healthz").status == .ok)
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["status"] == "ready")
            // Probes that send HEAD get the same status, without a body.
            for path in ["/healthz", "/readyz"] {
                let head = try await c.executeRequest(uri: path, method: .head, headers: [:], body: nil)
                #expect(head.status == .ok && head.body.readableBytes == 0, "\(path)")
            }
            let metrics = try await c.api(.get, "/metrics", "/metrics")
            #expect(metrics.body.text.contains("jobledger_log_head_seq 0"))
            // The engine's and the projections' counters are on the same page.
            let submitted = try await c.api(.post, "/api/design", "/api/design", headers: admin, body: body(SubmitTests.design))
            #expect(submitted.status == .accepted)
            try await h.workAndProject()
            let after = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(after.contains(#"jobledger_jobs_completed_total{kind="design"} 1"#), "\(after)")
            #expect(after.contains(#"jobledger_projection_applied_total{projection="jobs"}"#))
            #expect(after.contains(#"jobledger_projection_delivered_total{projection="broadcast"}"#))
            let doc = try await c.api(.get, "/openapi.json", "/openapi.json")
            #expect(doc.body.text == (try String(contentsOfFile: OpenAPIChecker.path, encoding: .utf8)))
            let p = try await c.api(.get, "/api/projections", "/api/projections", headers: admin).body.json!
            guard case .array(let list)? = p["projections"] else { Issue.record("no projections"); return }
            #expect(Set(list.compactMap { $0["name"]?.stringValue }) == ["jobs", "blob", "broadcast"])
            let redrive = try await c.api(.post, "/api/projections/broadcast/redrive", "/api/projections/{name}/redrive", headers: admin)
            #expect(redrive.body.json?["redriven"] == 0)
            #expect(try await c.api(.post, "/api/projections/nope/redrive", "/api/projections/{name}/redrive", headers: admin).status == .notFound)
            // The jobs table is a state projection: it has no outbox to re-drive.
            #expect(try await c.api(.post, "/api/projections/jobs/redrive", "/api/projections/{name}/redrive", headers: admin).status == .notFound)
            let unknown = try await c.executeRequest(uri: "/api/nothing-here", method: .get, headers: [:], body: nil)
            #expect(unknown.status == .notFound && unknown.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func retryIsForFailedJobsOnly() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        try await h.live { c async throws in
            let id = try await c.api(.post, "/api/design", "/api/design", headers: admin, body: body(Self.design)).body.json!["id"]!.stringValue!
            let r = try await c.api(.post, "/api/jobs/\(id)/retry", "/api/jobs/{id}/retry", headers: admin)
            #expect(r.status == .conflict)
            #expect(try h.ledger.eventCount() == 1)
        }
    }
}
