import JobLedger
import JobLedgerSQLite

/// The gauges `/metrics` reads from the log at each scrape, beside what the engine and the
/// projections count as they go: the log's head, the jobs per state (the jobs table, counted as
/// the jobs list counts them, reused where counting is costly) and each projection's lag and
/// what its outbox owes. What an alert needs to see: a projection falling behind or dead
/// letters piling up, on a node that runs no projections itself as well (the counters only
/// count what this process did).
extension JobLedgerServer {
    func logGauges() -> String {
        var text = ""
        if let head = try? ledger.head()?.seq ?? 0 {
            text += Self.gauge("jobledger_log_head_seq", help: "The seq of the last event in the log.", [("", head)])
        }
        if let counts = try? jobListPage(state: nil, kind: nil, owner: nil, before: nil, limit: 1).counts {
            text += Self.gauge("jobledger_jobs", help: "Jobs in each state, from the jobs table (its projection's lag behind the log aside).",
                               JobStatus.allCases.map { ("state=\"\($0.rawValue)\"", Int64(counts[$0] ?? 0)) })
        }
        let running = (runner?.stateProjections.map(\.name) ?? []) + (runner?.effectProjections.map(\.name) ?? [])
        if let gauges = try? ledger.projectionGauges(running: running), !gauges.isEmpty {
            text += Self.gauge("jobledger_projection_lag", help: "Events in the log the projection has not applied or taken in yet.",
                               gauges.map { ("projection=\"\($0.name)\"", $0.lag) })
            text += Self.gauge("jobledger_projection_pending", help: "Outbox items not delivered yet (new, or backing off after a failed try).",
                               gauges.map { ("projection=\"\($0.name)\"", Int64($0.pending)) })
            text += Self.gauge("jobledger_projection_dead", help: "Dead letters: outbox items given up on; `jobledger projections retry` (or the dashboard's re-drive) puts them back in line.",
                               gauges.map { ("projection=\"\($0.name)\"", Int64($0.dead)) })
        }
        // How this process's appends were gathered into transactions (group commit): SQLite's
        // cost per transaction is several times its cost per event, so requests per transaction
        // near 1 under load says the writes are the bottleneck.
        text += Self.counter("jobledger_append_requests_total", help: "Append requests this process made to the log (a submit, a claim round, an outcome).",
                             Int64(ledger.receivedAppends))
        text += Self.counter("jobledger_append_transactions_total", help: "Append transactions this process committed; requests per transaction is how well group commit gathered them.",
                             Int64(ledger.appendTransactions))
        return text
    }

    /// One counter in Prometheus text, read from a count kept elsewhere: HELP, TYPE, the sample.
    static func counter(_ name: String, help: String, _ value: Int64) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
    }

    /// One gauge in Prometheus text: its HELP and TYPE lines and a sample per label set.
    /// Projection names and states are plain identifiers: nothing in a label needs escaping.
    static func gauge(_ name: String, help: String, _ samples: [(labels: String, value: Int64)]) -> String {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
        for s in samples { text += s.labels.isEmpty ? "\(name) \(s.value)\n" : "\(name){\(s.labels)} \(s.value)\n" }
        return text
    }
}
