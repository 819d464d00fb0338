import Foundation
import Hummingbird
import HummingbirdTesting
import JobLedger
import JobLedgerSQLite
import Testing
@testable import JobLedgerServer

/// `/readyz` is 503 `catching_up` while the projections the server reads from are more than
/// `readyMaxLag` events behind the log. A server started on a restored log said `ready` at once
/// while its jobs list showed a fraction of the jobs for 25 s and its live streams were silent
/// for 20 minutes (an outside probe on a million-event log).
@Suite struct ReadinessLagTests {
    @Test func notReadyWhileTheJobsTableOrItsBroadcastIsBehind() async throws {
        var made = try await ServerHarness.make()
        made.server.readyMaxLag = 2
        let h = made; defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .ok)
            for _ in 0..<3 {
                #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(SubmitTests.design)).status == .accepted)
            }
            // Three events the jobs table has not taken in. The broadcast's lease is no one's
            // yet: its lag is not this server's to wait for.
            var r = try await c.api(.get, "/readyz", "/readyz")
            #expect(r.status == .serviceUnavailable, "\(r.body.text)")
            #expect(r.body.json?["status"] == "catching_up" && r.body.json?["lag"] == ["jobs": 3], "\(r.body.text)")
            #expect(r.body.json?["chain"] != nil)
            _ = try await h.runner.catchUp()
            r = try await c.api(.get, "/readyz", "/readyz")
            #expect(r.status == .ok && r.body.json?["status"] == "ready", "\(r.body.text)")
            // Now this server's runner holds the broadcast's lease: its streams wait for it too.
            for _ in 0..<3 {
                #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(SubmitTests.design)).status == .accepted)
            }
            r = try await c.api(.get, "/readyz", "/readyz")
            #expect(r.status == .serviceUnavailable && r.body.json?["lag"] == ["jobs": 3, "broadcast": 3], "\(r.body.text)")
            // Within the limit: ready.
            _ = try await h.runner.catchUp()
            #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(SubmitTests.design)).status == .accepted)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .ok)
        }
    }

    @Test func noLimitNoCheck() async throws {
        var made = try await ServerHarness.make()
        made.server.readyMaxLag = nil
        let h = made; defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            for _ in 0..<3 {
                #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(SubmitTests.design)).status == .accepted)
            }
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["status"] == "ready")
        }
    }
}
