import GRDB
import JobLedger
import JobLedgerSQLite
import Synchronization

/// Job states the projections need before an event (the state the event applies to), kept
/// for jobs in flight, and folded from the log for any other job. One per projection.
final class StateCache: Sendable {
    private let states = Mutex(BoundedStates())

    init() {}

    /// The job's state just before its event `version`.
    func before(_ job: JobID, version: Int, db: Database) throws -> JobState? {
        if version == 1 { return nil }
        if let s = states.withLock({ $0[job] }), s.version == version - 1 { return s }
        return try Ledger.foldJob(db, job: job, from: nil, through: version - 1)
    }

    func remember(_ s: JobState) {
        states.withLock { m in
            if s.status.isTerminal && s.status != .failed { m.remove(s.id) } else { m.hold(s) }
        }
    }
}
