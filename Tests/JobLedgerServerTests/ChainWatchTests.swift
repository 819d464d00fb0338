import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A server on a log whose history was changed behind its back says so without anyone opening a
/// job's history: `ChainWatch` verifies the chain, and `/readyz`, `/metrics` and every dashboard
/// page show what it found. The server stays ready: nothing it does can repair the events.
@Suite struct ChainWatchTests {
    /// Checked every ten minutes, `/readyz` said `verified` through a seq far behind the head
    /// (through 0 for ten minutes after a start on an empty log). Each check carries on from the
    /// last verified event, so checking every minute costs no more over a run.
    @Test func theWatchChecksEveryMinute() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        #expect(ChainWatch(server: h.server, logger: LogCapture().logger).interval == .seconds(60))
    }

    /// A server stopping mid-verification cuts it short, within 4,096 events, and the chain's
    /// status is as if it had not begun. A SIGTERM waited for the whole log (16 s for 300,000
    /// events) at the start and at every full verification.
    @Test func aCancelledCheckStopsWithinAFewThousandEventsAndChangesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        for b in 0..<5 {
            let batch = try (0..<500).flatMap { i in
                let j = try JobID("job-\(b)-\(i)")
                return [NewEvent(job: j, payload: .queued(.init(kind: "echo"))), NewEvent(job: j, payload: .canceled(.init(reason: "x")))]
            }
            _ = try await h.ledger.append(batch)
        }
        let (partial, next) = try h.ledger.verify(continuing: nil, stop: { true })
        #expect(partial.events == 4_096 && partial.problem == nil && next.head.seq == 4_096)
        #expect(throws: CancellationError.self) { try h.server.chain.verdict(logger: LogCapture().logger, stop: { true }) }
        guard case .unchecked = h.server.chain.latest else { Issue.record("\(h.server.chain.latest)"); return }
        let watch = ChainWatch(server: h.server, logger: LogCapture().logger)
        let cancelled = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await watch.check()
        }.value
        guard case .unchecked = cancelled else { Issue.record("\(cancelled)"); return }
        guard case .verdict(let v) = await watch.check() else { Issue.record("not verified"); return }
        #expect(v.head == 5_000 && v.brokenAt == nil)
    }

    @Test func aBrokenChainIsShownByReadyzMetricsAndTheDashboard() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.token("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append([NewEvent(job: a, payload: .queued(.init(kind: "echo"))), NewEvent(job: a, payload: .canceled(.init(reason: "x")))])
        try IncrementalChainStatusTests.tamper(h, #"UPDATE events SET payload = '{"reason":"edited"}' WHERE seq = 2"#)
        let log = LogCapture()
        let watch = ChainWatch(server: h.server, logger: log.logger)
        try await h.live { c async throws in
            // Before the first verification: unchecked, and no banner.
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["chain"]?["status"] == "unchecked")
            await watch.check()
            let ready = try await c.api(.get, "/readyz", "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.body.json?["status"] == "ready")
            #expect(ready.body.json?["chain"] == .object(["status": "broken", "broken_at": 2, "verified_through": 1]), "\(ready.body.text)")
            let metrics = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(metrics.contains("jobledger_chain_broken_at_seq 2"), "\(metrics)")
            let page = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(admin)"], body: nil)
            #expect(page.body.text.contains("class=\"alert chain-alert\""), "\(page.body.text)")
            #expect(page.body.text.contains("does not verify at seq 2: payload changed after it was recorded"))
            // Said once in the log, not again while it stays the same.
            await watch.check()
            #expect(h.server.chain.report.said.chain?.contains("seq 2") == true)
        }
        let errors = log.lines.filter { $0.hasPrefix("error the log's hash chain does not verify at seq 2") }
        #expect(errors.count == 1, "\(log.lines)")
    }

    @Test func anIntactChainIsVerifiedWithNoBanner() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.token("user_root", role: "admin")
        _ = try await h.ledger.append(NewEvent(job: try JobID("job-a"), payload: .queued(.init(kind: "echo"))))
        let log = LogCapture()
        let watch = ChainWatch(server: h.server, logger: log.logger)
        try await h.live { c async throws in
            await watch.check()
            #expect(h.server.chain.report.said == ChainReport.Said())
            #expect(try await c.api(.get, "/readyz", "/readyz").body.json?["chain"] == .object(["status": "verified", "verified_through": 1]))
            #expect(try await c.api(.get, "/metrics", "/metrics").body.text.contains("jobledger_chain_broken_at_seq 0"))
            let page = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(admin)"], body: nil)
            #expect(!page.body.text.contains("chain-alert"))
        }
        #expect(log.lines.isEmpty, "\(log.lines)")
    }
}
