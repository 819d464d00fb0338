import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Logging
import Testing

/// `GET /api/live?jobs=…`: one stream of several jobs' messages, what the dashboard's jobs list
/// follows instead of polling; only jobs the caller may see.
@Suite struct LiveListTests {

    @Test func aListStreamCarriesTheCallersJobsOnlyAndEndsWhenTheyHaveFinished() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        let token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let a1 = try await c.submitDesign(alice), a2 = try await c.submitDesign(alice), b1 = try await c.submitDesign(bob)
            _ = try await h.runner.catchUp()  // the queued messages: published before the stream opens
            // As the dashboard's EventSource asks: the token in the query, bob's job listed too.
            let reader = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/live?jobs=\(a1),\(a2),\(b1)&access_token=\(token)")!)
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while h.hub.subscriberCount == 0 && ContinuousClock.now < deadline { await Task.yield() }
            try #require(h.hub.subscriberCount == 1, "the stream did not subscribe within 30 s")
            try await h.workAndProject()
            var events: [SSEReader.Event] = []
            for await e in reader.events { events.append(e) }   // ends once a1 and a2 have finished
            #expect(reader.status == 200)
            let messages = events.compactMap { try? JSONValue(parsing: $0.data) }
            let jobs = messages.compactMap { $0["job"]?.stringValue }
            #expect(Set(jobs) == [a1, a2], "only alice's jobs: \(jobs)")
            for id in [a1, a2] {
                let mine = messages.filter { $0["job"]?.stringValue == id }
                // First its latest message so far (queued, published before the stream opened),
                // then every newer one up to completed.
                #expect(mine.first?["state"] == "queued" && mine.last?["state"] == "completed", "\(id): \(mine.map { $0["state"] })")
                #expect(mine.contains { $0["state"] == "running" })
                let seqs = events.filter { $0.data.contains(id) }.map(\.id)
                #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
            }
            #expect(h.hub.subscriberCount == 0, "the ended stream left the hub")
        }
    }

    @Test func nothingVisibleIs204AFinishedJobGetsItsLastMessageAndBadListsAre422() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        let b1 = try await h.live { c async throws in
            try await c.submitDesign(bob)
        }
        try await h.live { c async throws in
            // Bob's job, and an id nobody has: alice is told nothing about either.
            #expect(try await c.api(.get, "/api/live?jobs=\(b1),no-such-job", "/api/live", headers: alice).status == .noContent)
            #expect(h.hub.subscriberCount == 0, "a 204 leaves no subscription behind")
            let unauthenticated = try await c.api(.get, "/api/live?jobs=\(b1)", "/api/live")
            #expect(unauthenticated.status == .unauthorized)
            for bad in ["", ",", "a%20b", (0...JobLedgerServer.maxLiveJobs).map { "j\($0)" }.joined(separator: ",")] {
                let r = try await c.api(.get, "/api/live?jobs=\(bad)", "/api/live", headers: alice)
                #expect(r.status == .unprocessableContent && r.body.json?["field"] == "jobs", "jobs=\(bad.prefix(20))")
            }
            #expect(try await c.api(.get, "/api/live", "/api/live", headers: alice).status == .unprocessableContent)
        }
        // Finished (a list that showed it running puts it right), and nothing more will come:
        // its last message, and the stream ends at once.
        let a1 = try await h.live { c async throws in
            try await c.submitDesign(alice)
        }
        try await h.workAndProject()
        try await h.live { c async throws in
            let r = try await c.api(.get, "/api/live?jobs=\(a1),\(b1)", "/api/live", headers: alice)
            #expect(r.status == .ok)
            let data = StreamTests.data(r.body.text).compactMap { try? JSONValue(parsing: $0) }
            #expect(data.count == 1 && data.first?["job"]?.stringValue == a1 && data.first?["state"] == "completed")
            // The EventSource reconnects after that stream: told to stop.
            let again = try await c.api(.get, "/api/live?jobs=\(a1),\(b1)", "/api/live",
                                        headers: alice + [HTTPField.Name("Last-Event-ID")!: "\(StreamTests.ids(r.body.text).last ?? 0)"])
            #expect(again.status == .noContent)
        }
    }

    /// Where broadcasts go to AnyCable there is no hub to follow: the route says so (409) and
    /// the dashboard's list polls instead; with the hub it follows the stream, starting from
    /// the versions its rows show.
    @Test func theDashboardListFollowsTheHubOrPollsWithout() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await h.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "echo"))))
        _ = try await h.runner.catchUp()
        let admin: HTTPFields = [.cookie: "__session=\(try await h.token("user_root", role: "admin"))"]
        try await h.live { c async throws in
            let list = try await c.executeRequest(uri: "/", method: .get, headers: admin, body: nil).body.text
            #expect(list.contains("data-live=\"sse\"") && list.contains("data-version=\"1\""))
        }
        let noHub = JobLedgerServer(ledger: h.ledger, engine: h.engine, hub: nil, runner: h.runner, auth: nil,
                                    limiter: .inMemory(RateLimitSpec(limit: 10, windowMilliseconds: 1000), now: h.clock.closure),
                                    now: h.clock.closure)
        try await noHub.application(host: "127.0.0.1", port: 0, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            .test(.live) { c in
                let list = try await c.executeRequest(uri: "/", method: .get, headers: [:], body: nil).body.text
                #expect(list.contains("data-live=\"poll\""))
                let ids = list.components(separatedBy: "data-job=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
                let live = try await c.api(.get, "/api/live?jobs=\(ids.joined(separator: ","))", "/api/live")
                #expect(live.status == .conflict)
            }
    }
}
