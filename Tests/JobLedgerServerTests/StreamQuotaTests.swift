import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// One caller holds at most `StreamQuota.perCaller` SSE streams open at once; past it, 429
/// `too-many-streams`; a stream that ends gives its place back, and other callers are not
/// affected.
@Suite struct StreamQuotaTests {

    @Test func ticketsAreCountedPerCallerAndGivenBackOnceWhenReleasedOrDropped() {
        let quota = StreamQuota(perCaller: 2)
        let a = quota.take(for: "alice"), b = quota.take(for: "alice")
        #expect(a != nil && b != nil)
        #expect(quota.take(for: "alice") == nil)
        #expect(quota.take(for: "bob") != nil)  // dropped at once: given back
        #expect(quota.openStreams(of: "bob") == 0)
        a!.release()
        a!.release()  // twice: given back once
        #expect(quota.openStreams(of: "alice") == 1)
        let c = quota.take(for: "alice")
        #expect(c != nil && quota.take(for: "alice") == nil)
        withExtendedLifetime((b, c)) {}
    }

    @Test func aCallerPastTheQuotaGets429UntilOneOfItsStreamsEnds() async throws {
        var made = try await ServerHarness.make()
        made.server.streamQuota = StreamQuota(perCaller: 2)
        let h = made
        defer { h.cleanup() }
        let quota = h.server.streamQuota
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
        let token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let a1 = try await c.submitDesign(alice), a2 = try await c.submitDesign(alice), b1 = try await c.submitDesign(bob)
            // Alice's two streams: a job stream and a list stream.
            let first = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/jobs/\(a1)/stream?access_token=\(token)")!)
            let second = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/live?jobs=\(a2)&access_token=\(token)")!)
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while quota.openStreams(of: "user_alice") < 2 && ContinuousClock.now < deadline { await Task.yield() }
            try #require(quota.openStreams(of: "user_alice") == 2, "alice's streams did not open within 30 s")
            // A third, on either route: refused, with a problem that says why and when to retry.
            for path in ["/api/jobs/\(a1)/stream", "/api/live?jobs=\(a1)"] {
                let r = try await c.api(.get, path, path.hasPrefix("/api/live") ? "/api/live" : "/api/jobs/{id}/stream", headers: alice)
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] == "5")
                #expect(r.body.json?["type"]?.stringValue?.hasSuffix("too-many-streams") == true)
            }
            #expect(quota.openStreams(of: "user_alice") == 2, "a refused stream holds no place")
            // Bob is not affected.
            let bobs = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/jobs/\(b1)/stream?access_token=\(try await h.token("user_bob"))")!)
            // Every job finishes: each stream ends and gives its place back.
            try await h.workAndProject()
            for reader in [first, second, bobs] { for await _ in reader.events {} }
            while (quota.openStreams(of: "user_alice") > 0 || quota.openStreams(of: "user_bob") > 0) && ContinuousClock.now < deadline {
                await Task.yield()
            }
            #expect(quota.openStreams(of: "user_alice") == 0 && quota.openStreams(of: "user_bob") == 0)
            #expect(first.status == 200 && second.status == 200 && bobs.status == 200)
            // A stream answered 204 (alice already has a1's last word) takes no place either.
            let again = try await c.api(.get, "/api/jobs/\(a1)/stream", "/api/jobs/{id}/stream", headers: alice.merging([Self.lastEventID: "\(try h.ledger.head()?.seq ?? 0)"]))
            #expect(again.status == .noContent)
            #expect(quota.openStreams(of: "user_alice") == 0)
        }
    }

    /// A client that goes away (a closed tab) gives its place back within one heartbeat, not when
    /// the stream of a job that does not move would have timed out; so does its hub subscription.
    @Test func aClientThatDisconnectsGivesItsPlaceBack() async throws {
        var made = try await ServerHarness.make()
        made.server.streamHeartbeat = .milliseconds(50)  // the keep-alive write finds the closed connection
        let h = made
        defer { h.cleanup() }
        let quota = h.server.streamQuota
        let alice = try await h.auth("user_alice"), token = try await h.token("user_alice")
        try await h.live { c async throws in
            let port = try #require(c.port)
            let job = try await c.submitDesign(alice)
            for path in ["/api/jobs/\(job)/stream?", "/api/live?jobs=\(job)&"] {
                // Nothing works the job: the stream would stay open for the longest stream time.
                let reader = SSEReader(url: URL(string: "http://127.0.0.1:\(port)\(path)access_token=\(token)")!)
                let deadline = ContinuousClock.now.advanced(by: .seconds(30))
                while (quota.openStreams(of: "user_alice") < 1 || h.hub.subscriberCount < 1) && ContinuousClock.now < deadline { await Task.yield() }
                try #require(quota.openStreams(of: "user_alice") == 1 && h.hub.subscriberCount == 1, "\(path): the stream did not open")
                reader.drop()
                while (quota.openStreams(of: "user_alice") > 0 || h.hub.subscriberCount > 0) && ContinuousClock.now < deadline { await Task.yield() }
                #expect(quota.openStreams(of: "user_alice") == 0, "\(path): the closed stream kept its place")
                #expect(h.hub.subscriberCount == 0, "\(path): the closed stream kept its subscription")
            }
        }
    }

    /// A client that closed its connection in order (a FIN, which HTTP lets the server take as
    /// a half-close) takes the first keep-alive and answers it with a reset; the second write
    /// fails. Serve.md promises a place back within 15 s of the client going away: two
    /// heartbeats. An outside audit measured 29.4 s with the 15 s heartbeat of before.
    @Test func twoHeartbeatsFitTheFifteenSecondsServeMdPromises() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        #expect(h.server.streamHeartbeat * 2 <= .seconds(15))
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var out = self
        for f in other { out.append(f) }
        return out
    }
}
