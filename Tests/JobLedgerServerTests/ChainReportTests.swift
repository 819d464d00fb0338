import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import JobLedger
import Logging
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A break in the hash chain, or an integrity rule dropped, that a request is first to find (a
/// job's history verifies the chain) is logged by that request, at once and at error level, and
/// not again by later requests or by the background check. It was on `/readyz`, `/metrics` and
/// the dashboard at once but logged only by the next background check, up to ten minutes later.
@Suite struct ChainReportTests {
    @Test func aBreakARequestFindsIsLoggedAtOnceAndOnce() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append([NewEvent(job: a, payload: .queued(.init(kind: "echo"))), NewEvent(job: a, payload: .canceled(.init(reason: "x")))])
        let log = LogCapture()
        let watch = ChainWatch(server: h.server, logger: log.logger)
        try await h.live(logger: log.logger) { c async throws in
            // A first verification, with the chain intact: nothing said.
            await watch.check()
            try IncrementalChainStatusTests.tamper(h, #"UPDATE events SET payload = '{"reason":"edited"}' WHERE seq = 2"#)
            // A full re-verification is due (as ten minutes later): the next history finds the break.
            h.clock.advance(ms: 600_000)
            let history = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: admin)
            #expect(history.status == .ok)
            let said = log.lines.filter { $0.hasPrefix("error the log's hash chain does not verify at seq 2") }
            #expect(said.count == 1, "not logged by the request that found it: \(log.lines)")
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["chain"]?["status"] == "broken")
            // Not again: neither by the next request nor by the background check.
            _ = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: admin)
            await watch.check()
        }
        #expect(log.lines.filter { $0.hasPrefix("error ") }.count == 1, "\(log.lines.filter { $0.hasPrefix("error ") })")
    }

    @Test func aDroppedRuleARequestFindsIsLoggedAtOnceAndOnce() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append(NewEvent(job: a, payload: .queued(.init(kind: "echo"))))
        let log = LogCapture()
        let watch = ChainWatch(server: h.server, logger: log.logger)
        try await h.live(logger: log.logger) { c async throws in
            await watch.check()
            try ChainRulesWatchTests.sql(h, "DROP TRIGGER events_no_delete")
            _ = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: admin)
            let said = log.lines.filter { $0.hasPrefix("error the log's integrity rules were removed behind its back: trigger events_no_delete") }
            #expect(said.count == 1, "not logged by the request that found it: \(log.lines)")
            _ = try await c.api(.get, "/api/jobs/job-a/events", "/api/jobs/{id}/events", headers: admin)
            await watch.check()
        }
        #expect(log.lines.filter { $0.hasPrefix("error ") }.count == 1, "\(log.lines.filter { $0.hasPrefix("error ") })")
    }
}
