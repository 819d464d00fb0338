import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

/// The queued jobs of one kind whose run-at is still ahead: what `work --until-idle` waits for
/// while nothing is due (it waited in silence, up to a run-at in 2099), and what an interrupted
/// run leaves for later.
struct DelayedJobs {
    let kind: String
    let count: Int
    /// When the first of them is due.
    let next: Timestamp

    /// `2 delayed design jobs`
    var text: String { "\(count) delayed \(kind) job\(count == 1 ? "" : "s")" }

    /// The delayed jobs of `kind` in `ledger` (the jobs table with the events it has not taken
    /// in yet folded in); nil when there are none, or they cannot be read.
    static func of(kind: String, in ledger: Ledger, now: Timestamp = .now) async -> DelayedJobs? {
        guard let rows = try? ledger.currentJobRows(state: .queued) else { return nil }
        let ids = rows.filter { $0.kind == kind }.map(\.id)
        guard !ids.isEmpty, let states = try? await ledger.states(of: ids) else { return nil }
        let runAts = states.values.filter { $0.status == .queued && $0.runAt > now }.map(\.runAt)
        guard let next = runAts.min() else { return nil }
        return DelayedJobs(kind: kind, count: runAts.count, next: next)
    }
}
