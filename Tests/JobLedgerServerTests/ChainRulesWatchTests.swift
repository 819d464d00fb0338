import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A trigger that refuses edits to events dropped from the log's file behind the server's back:
/// `jobledger verify` fails on it, and `serve` says so where it says a chain is broken (once in
/// its log, on `/readyz`, `/metrics` and every dashboard page), while the events still verify.
/// It used to say nothing: the server read only the verdict's chain problem.
@Suite struct ChainRulesWatchTests {
    static func sql(_ h: ServerHarness, _ sql: String) throws {
        let q = try DatabaseQueue(path: h.dir.appendingPathComponent("log.sqlite").path)
        try q.writeWithoutTransaction { db in try db.execute(sql: sql) }
    }

    @Test func aDroppedTriggerIsShownByReadyzMetricsTheDashboardAndTheLog() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let user = try await h.token("user_alice")
        let a = try JobID("job-a")
        _ = try await h.ledger.append([NewEvent(job: a, payload: .queued(.init(kind: "echo"))), NewEvent(job: a, payload: .canceled(.init(reason: "x")))])
        let log = LogCapture()
        let watch = ChainWatch(server: h.server, logger: log.logger)
        try await h.live { c async throws in
            // A first verdict with every rule in place…
            await watch.check()
            #expect(h.server.chain.report.said.rules == nil)
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["chain"] == .object(["status": "verified", "verified_through": 2]))
            #expect(try await c.api(.get, "/metrics", "/metrics").body.text.contains("jobledger_chain_rules_removed 0"))
            // …then the trigger dropped. The head does not move and the clock stands still (no
            // full re-verification is due): the next check sees it all the same.
            try Self.sql(h, "DROP TRIGGER events_no_update")
            await watch.check()
            #expect(h.server.chain.report.said.chain == nil, "the events still verify")
            let ready = try await c.api(.get, "/readyz", "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.body.json?["chain"] == .object(["status": "rules_removed", "verified_through": 2,
                                                          "removed_rules": .array(["trigger events_no_update"])]), "\(ready.body.text)")
            // No token on /readyz: fixed words only, never the log's path.
            #expect(!ready.body.text.contains(h.dir.path) && !ready.body.text.contains("log.sqlite"))
            // The job's history says it beside its events (its page's chain line read "verified").
            let history = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: try await h.auth("user_root", role: "admin"))
            #expect(history.body.json?["chain"] == .object(["verified_through": 2, "removed_rules": .array(["trigger events_no_update"])]),
                    "\(history.body.text.prefix(300))")
            let metrics = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(metrics.contains("jobledger_chain_rules_removed 1") && metrics.contains("jobledger_chain_broken_at_seq 0"), "\(metrics)")
            let page = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(user)"], body: nil).body.text
            #expect(page.contains("class=\"alert chain-alert\""), "\(page.prefix(600))")
            #expect(page.contains("integrity rules were removed behind its back: trigger events_no_update (refuses UPDATE on events)"))
            #expect(!page.contains("does not verify"))
            // Said once while it stays the same.
            await watch.check()
            // Put back: all clear again, said once.
            try Self.sql(h, "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END")
            await watch.check()
            #expect(h.server.chain.report.said.rules == nil)
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["chain"] == .object(["status": "verified", "verified_through": 2]))
            #expect(try await c.api(.get, "/metrics", "/metrics").body.text.contains("jobledger_chain_rules_removed 0"))
            let clear = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(user)"], body: nil).body.text
            #expect(!clear.contains("chain-alert"))
        }
        let errors = log.lines.filter { $0.hasPrefix("error the log's integrity rules were removed behind its back: trigger events_no_update") }
        #expect(errors.count == 1, "\(log.lines)")
        #expect(log.lines.filter { $0.hasPrefix("warning the log's integrity rules are all in place again") }.count == 1, "\(log.lines)")
        #expect(log.lines.count == 2, "\(log.lines)")
    }

    /// A broken chain and removed rules at once: both on the banner and on `/readyz`, which
    /// says `broken` (the worse) and names the rules.
    @Test func aBrokenChainWithRulesRemovedSaysBoth() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.token("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append([NewEvent(job: a, payload: .queued(.init(kind: "echo"))), NewEvent(job: a, payload: .canceled(.init(reason: "x")))])
        try Self.sql(h, #"DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; UPDATE events SET payload = '{"reason":"edited"}' WHERE seq = 2"#)
        let watch = ChainWatch(server: h.server, logger: LogCapture().logger)
        try await h.live { c async throws in
            _ = await watch.check()
            let chain = try await c.api(.get, "/readyz", "/readyz").body.json?["chain"]
            #expect(chain == .object(["status": "broken", "broken_at": 2, "verified_through": 1,
                                      "removed_rules": .array(["trigger events_no_update", "trigger events_no_delete"])]), "\(String(describing: chain))")
            let metrics = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(metrics.contains("jobledger_chain_rules_removed 2") && metrics.contains("jobledger_chain_broken_at_seq 2"))
            let page = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(admin)"], body: nil).body.text
            #expect(page.contains("does not verify at seq 2") && page.contains("trigger events_no_delete (refuses DELETE on events)"), "\(page.prefix(800))")
        }
    }
}
