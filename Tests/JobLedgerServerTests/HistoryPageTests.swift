import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerSQLite
@testable import JobLedgerServer
import Testing

/// `GET /api/jobs/{id}/events?after=&limit=`: a watching client asks for what is new since the
/// last seq it has instead of the whole history again (30,000 events were 14.5 MB a request),
/// and a long history can be read in pages. Every event of a page is the event as the whole
/// history gives it: state, change, time since the previous event, chain status, broadcast.
@Suite struct HistoryPageTests {
    static func events(_ json: JSONValue?) -> [JSONValue] {
        guard case .array(let events)? = json?["events"] else { return [] }
        return events
    }

    /// Two design jobs worked side by side (their seqs interleave), with broadcasts.
    static func twoWorkedJobs(_ h: ServerHarness, _ auth: HTTPFields) async throws -> String {
        let id = try await h.live { c async throws in
            let id = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(ReadTests.design)).body.json!["id"]!.stringValue!
            _ = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(ReadTests.design))
            return id
        }
        try await h.workAndProject()
        return id
    }

    @Test func afterGivesOnlyLaterEventsExactlyAsTheWholeHistoryHasThem() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await Self.twoWorkedJobs(h, auth)
        try await h.live { c async throws in
            let whole = try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.json
            let all = Self.events(whole)
            #expect(all.count == 6)
            #expect(whole?["next_after"] == .null)
            let seqs = all.map { $0["seq"]!.intValue! }
            for after in [0] + seqs + [seqs.last! + 100] {
                let r = try await c.api(.get, "/api/jobs/\(id)/events?after=\(after)", "/api/jobs/{id}/events", headers: auth)
                #expect(r.status == .ok)
                #expect(Self.events(r.body.json) == all.filter { $0["seq"]!.intValue! > after }, "after=\(after)")
                #expect(r.body.json?["next_after"] == .null)
                #expect(r.body.json?["chain"] == whole?["chain"])
            }
            // Mid-history, the first event of the answer still has its time since the one before.
            let tail = Self.events(try await c.api(.get, "/api/jobs/\(id)/events?after=\(seqs[2])", "/api/jobs/{id}/events", headers: auth).body.json)
            #expect(tail.first?["since_previous_ms"] != .null)
        }
    }

    @Test func limitBoundsAPageAndNextAfterWalksTheWholeHistory() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await Self.twoWorkedJobs(h, auth)
        try await h.live { c async throws in
            let all = Self.events(try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.json)
            for limit in 1...7 {
                var walked: [JSONValue] = []
                var after: Int64 = 0
                var pages = 0
                while pages <= all.count {
                    let page = try await c.api(.get, "/api/jobs/\(id)/events?after=\(after)&limit=\(limit)", "/api/jobs/{id}/events", headers: auth).body.json
                    let events = Self.events(page)
                    pages += 1
                    #expect(events.count <= limit)
                    walked += events
                    guard let next = page?["next_after"]?.intValue else { break }
                    #expect(next == events.last?["seq"]?.intValue)
                    after = next
                }
                #expect(walked == all, "limit=\(limit)")
                #expect(pages == (all.count + limit - 1) / limit, "limit=\(limit)")
            }
        }
    }

    /// The next page of a watcher (`after=` the last seq of the page before) folds on from where
    /// that page ended instead of from the job's first event, and gives the same events.
    @Test func theNextPageResumesWhereThePageBeforeEnded() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await Self.twoWorkedJobs(h, auth)
        try await h.live { c async throws in
            let all = Self.events(try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: auth).body.json)
            let first = try await c.api(.get, "/api/jobs/\(id)/events?limit=2", "/api/jobs/{id}/events", headers: auth).body.json
            let end = try #require(first?["next_after"]?.intValue)
            #expect(h.server.historyResume.point(try JobID(id), endingAt: end)?.state.version == 2)
            let rest = Self.events(try await c.api(.get, "/api/jobs/\(id)/events?after=\(end)", "/api/jobs/{id}/events", headers: auth).body.json)
            #expect(rest == Array(all[2...]))
            #expect(rest.first?["since_previous_ms"] != .null)
        }
    }

    @Test func aPageMidHistorySaysWhetherTheChainVerifiesUpToEachEvent() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let a = try JobID("job-a")
        let lease = Timestamp(milliseconds: 4_102_444_800_000)
        _ = try await h.ledger.append([
            NewEvent(job: a, payload: .queued(.init(kind: "echo", owner: "user_alice"))),
            NewEvent(job: a, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease))),
            NewEvent(job: a, payload: .progress(.init(fraction: 0.25, attempt: 1))),
            NewEvent(job: a, payload: .progress(.init(fraction: 0.5, attempt: 1))),
            NewEvent(job: a, payload: .completed(.init(output: ["ok": true], attempt: 1))),
        ])
        try IncrementalChainStatusTests.tamper(h, "UPDATE events SET hash = printf('%064d', 0) WHERE seq = 3")
        try await h.live { c async throws in
            let whole = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: auth).body.json
            #expect(whole?["chain"]?["broken_at"] == 3)
            #expect(Self.events(whole).map { $0["chain_verified"] == true } == [true, true, false, false, false])
            let page = try await c.api(.get, "/api/jobs/job-a/events?after=1&limit=2", "/api/jobs/{id}/events", headers: auth).body.json
            let events = Self.events(page)
            #expect(events.map { $0["seq"]?.intValue } == [2, 3])
            #expect(events.map { $0["chain_verified"] == true } == [true, false])
            #expect(events.map { $0["state"]?.stringValue } == ["running", "running"])
            #expect(events[1]["progress"]?.doubleValue == 0.25)
            #expect(page?["next_after"] == 3)
            #expect(events == Array(Self.events(whole)[1...2]))
        }
    }

    @Test func afterAndLimitThatAreNotDigitsOrOutOfRangeAre422() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await h.live { c async throws in
            try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(ReadTests.design)).body.json!["id"]!.stringValue!
        }
        try await h.live { c async throws in
            let cases = [("after=-1", "after"), ("after=x", "after"), ("after=", "after"), ("after=1.5", "after"), ("after=%2B1", "after"),
                         ("after=%201", "after"), ("after=99999999999999999999", "after"), ("after=1&after=2", "after"),
                         ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("limit=", "limit"), ("limit=-5", "limit"),
                         ("limit=1&limit=2", "limit")]
            for (q, field) in cases {
                let r = try await c.api(.get, "/api/jobs/\(id)/events?\(q)", "/api/jobs/{id}/events", headers: auth)
                #expect(r.status == .unprocessableContent && r.body.json?["field"]?.stringValue == field, "\(q): \(r.body.text)")
            }
            // Digits too many for a seq, or a limit past the range, are said to be out of range (they
            // were said to be "not digits").
            for (q, says) in [("after=99999999999999999999999", "after '99999999999999999999999' is out of range: a seq is at most 9223372036854775807"),
                              ("limit=99999999999999999999999", "limit '99999999999999999999999' is out of range: it must be 1…1000"),
                              ("limit=1001", "limit '1001' is out of range: it must be 1…1000"),
                              ("after=x", "after must be a seq, digits only"), ("limit=x", "limit must be a whole number 1…1000, digits only")] {
                let detail = try await c.api(.get, "/api/jobs/\(id)/events?\(q)", "/api/jobs/{id}/events", headers: auth).body.json?["detail"]?.stringValue ?? ""
                #expect(detail.hasPrefix(says), "\(q): \(detail)")
            }
            let most = try await c.api(.get, "/api/jobs/\(id)/events?after=0&limit=1000", "/api/jobs/{id}/events", headers: auth)
            #expect(most.status == .ok && Self.events(most.body.json).count == 1)
        }
    }

    @Test func theDocumentSaysTheLimitTheServerKeeps() throws {
        let limit = try #require(OpenAPIRequestRulesTests.parameter("/api/jobs/{id}/events", "get", "limit")?["schema"])
        #expect(limit["maximum"]?.intValue == Int64(HistoryPage.maxLimit) && limit["minimum"] == 1)
        #expect(JobLedgerServer.isDigits("007") && !JobLedgerServer.isDigits("٣") && !JobLedgerServer.isDigits(""))
    }

    /// The job page reads only what is new after its first read of the timeline (the browser
    /// test, Fixtures/serve-e2e/test_browser.py, watches it do so).
    @Test func theDashboardAsksOnlyForEventsAfterTheLastItHas() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let js = try await c.executeRequest(uri: "/static/dashboard.js", method: .get, headers: [:], body: nil).body.text
            #expect(js.contains(#""?after=" + after + "&limit=1000""#))
            #expect(js.contains("createDocumentFragment"))
        }
    }
}
