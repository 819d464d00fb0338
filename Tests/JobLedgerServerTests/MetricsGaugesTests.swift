import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing
@testable import JobLedgerServer

/// An effect projection of an app that gives up on every item at once (the sink rejects them):
/// each job's terminal event becomes a dead letter.
private struct RejectingWebhook: EffectProjection {
    let name = ProjectionName("webhook")
    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        state.status.isTerminal ? [OutboxDraft(target: "https://example.com/hook", body: state.id.rawValue)] : []
    }
    func deliver(_ items: [OutboxItem]) async -> Delivery { .failed(items, SinkError.rejected("410 Gone"), after: [OutboxItem]()) }
}

/// `/metrics` shows what the log owes, read from the log at each scrape: the jobs per state,
/// each projection's lag and its pending and dead items. The counters alone said only what
/// this process did: a projection falling behind, or dead letters piling up in another
/// process's outbox, showed nowhere an alert could see.
@Suite struct MetricsGaugesTests {
    /// The value of the unlabelled sample `name` in Prometheus text.
    static func sample(_ name: String, in text: String) -> Int64? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int64($0.dropFirst(name.count + 1)) }
    }

    @Test func gaugesShowJobsPerStateLagAndDeadLetters() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            for _ in 0..<3 {
                #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(SubmitTests.design)).status == .accepted)
            }
            // Three queued events the projections have not taken in yet.
            var text = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(text.contains("# HELP jobledger_projection_lag ") && text.contains("# TYPE jobledger_projection_lag gauge"), "\(text)")
            // The runner's projections have not run yet: the whole log is their lag.
            #expect(text.contains(#"jobledger_projection_lag{projection="jobs"} 3"#) && text.contains(#"jobledger_projection_lag{projection="broadcast"} 3"#), "\(text)")
            #expect(text.contains(#"jobledger_jobs{state="queued"} 0"#), "\(text)")  // the table is behind: it says so by the lag
            _ = try await h.runner.catchUp()
            text = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(text.contains(#"jobledger_projection_lag{projection="jobs"} 0"#), "\(text)")
            #expect(text.contains(#"jobledger_jobs{state="queued"} 3"#) && text.contains(#"jobledger_jobs{state="completed"} 0"#), "\(text)")

            try await h.workAndProject()
            // Another runner on the log (another process, say) with an app's projection that
            // gives up on everything: three dead letters, which this server's counters never saw.
            var o = ProjectionRunner.Options(owner: "other-process")
            o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let other = ProjectionRunner(ledger: h.ledger, extra: [RejectingWebhook()], options: o)
            let head = try #require(try h.ledger.head()?.seq)
            text = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(!text.contains(#"projection="webhook""#), "\(text)")
            _ = try await other.catchUp()
            text = try await c.api(.get, "/metrics", "/metrics").body.text
            #expect(text.contains(#"jobledger_projection_dead{projection="webhook"} 3"#), "\(text)")
            #expect(text.contains(#"jobledger_projection_pending{projection="webhook"} 0"#), "\(text)")
            #expect(text.contains(#"jobledger_projection_lag{projection="webhook"} 0"#), "\(text)")
            #expect(text.contains(#"jobledger_jobs{state="completed"} 3"#) || text.contains(#"jobledger_jobs{state="failed"}"#), "\(text)")
            #expect(text.contains("jobledger_log_head_seq \(head)"), "\(text)")
            // The appends this server made and the transactions they took: three submits, the
            // engine's claims and outcomes, each request counted once, and no transaction without one.
            let requests = try #require(Self.sample("jobledger_append_requests_total", in: text))
            let transactions = try #require(Self.sample("jobledger_append_transactions_total", in: text))
            #expect(requests == Int64(h.ledger.receivedAppends) && requests >= 4, "\(text)")
            #expect(transactions >= 1 && transactions <= requests, "\(text)")
            #expect(text.contains("# TYPE jobledger_append_requests_total counter\n"), "\(text)")
            // Each gauge once, with its HELP and TYPE lines (a scraper refuses a repeated TYPE).
            for name in ["jobledger_log_head_seq", "jobledger_jobs", "jobledger_projection_lag", "jobledger_projection_pending", "jobledger_projection_dead"] {
                #expect(text.components(separatedBy: "# TYPE \(name) gauge\n").count == 2, "\(name)")
                #expect(text.components(separatedBy: "# HELP \(name) ").count == 2, "\(name)")
            }
        }
    }

    /// The value of the sample `name` whose labels include each of `labels` (`key="value"`).
    static func sample(_ name: String, _ labels: [String], in text: String) -> Double? {
        text.split(separator: "\n").first { line in line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) } }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    /// A fresh server's `/metrics` has the series counted only when something happens, at 0:
    /// the storage faults of each kind and the paused gauge per component, and each effect
    /// projection's failed and dead counters. They were missing until their first event, so an
    /// alert on `jobledger_storage_paused == 1` had nothing to evaluate.
    @Test func eventSeriesAreThereAtZeroFromTheStart() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let text = try await c.api(.get, "/metrics", "/metrics").body.text
            for component in ["server", "engine", "projections"] {
                #expect(Self.sample("jobledger_storage_paused", [#"component="\#(component)""#], in: text) == 0, "\(component): \(text)")
                for kind in ["full", "io", "read_only", "vanished"] {
                    #expect(Self.sample("jobledger_storage_faults_total", [#"component="\#(component)""#, #"kind="\#(kind)""#], in: text) == 0,
                            "\(component) \(kind): \(text)")
                }
            }
            #expect(!h.runner.effects.isEmpty)
            for projection in h.runner.effects.map(\.rawValue) {
                for what in ["failed", "dead"] {
                    #expect(Self.sample("jobledger_projection_\(what)_total", [#"projection="\#(projection)""#], in: text) == 0, "\(projection) \(what): \(text)")
                }
            }
        }
    }
}
