import JobLedger
import JobLedgerSQLite

extension JobLedgerServer {
    /// The projections this server reads from that are more than `readyMaxLag` events behind
    /// the log, with their lag; nil when none is (or when it is not checked). The jobs table,
    /// which every list, count and job row is read from, when this server's runner applies it;
    /// the broadcast, which its live streams come from, when this server's runner holds its
    /// lease (another process's is that process's to catch up, and its own readiness). A log
    /// that cannot be read here says nothing: a storage fault has its own answer.
    func projectionsBehind() -> [String: Int64]? {
        guard let limit = readyMaxLag, let runner else { return nil }
        let applies = Set(runner.stateProjections.map(\.name)).intersection([.jobs])
        let delivers = Set(runner.effectProjections.map(\.name)).intersection([.broadcast])
        guard !applies.isEmpty || !delivers.isEmpty, let gauges = try? ledger.projectionGauges(running: Array(applies), countingOutbox: false) else { return nil }
        var behind: [String: Int64] = [:]
        for g in gauges where g.lag > limit {
            if applies.contains(g.name) || (delivers.contains(g.name) && g.owner == runner.options.owner) {
                behind[g.name.rawValue] = g.lag
            }
        }
        return behind.isEmpty ? nil : behind
    }
}
