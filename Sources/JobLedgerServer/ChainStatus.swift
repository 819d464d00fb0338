import JobLedger
import JobLedgerSQLite
import Synchronization

/// The log's hash-chain verdict, computed by `Ledger.verify()` once per head and reused until
/// the log grows: each event of a history says whether the chain verifies up to it.
final class ChainStatus: Sendable {
    struct Verdict: Sendable {
        /// The head it was computed at.
        var head: Int64
        /// The first seq at fault, nil when the whole chain verifies.
        var brokenAt: Int64?
        /// What is wrong there.
        var problem: String?
    }
    private let ledger: Ledger
    private let cached = Mutex<Verdict?>(nil)

    init(ledger: Ledger) { self.ledger = ledger }

    /// The verdict for the current head.
    func verdict() throws -> Verdict {
        let head = try ledger.head()?.seq ?? 0
        if let v = cached.withLock({ $0 }), v.head == head { return v }
        let report = try ledger.verify()
        let v = Verdict(head: report.head?.seq ?? head, brokenAt: report.problem?.seq, problem: report.problem?.message)
        cached.withLock { $0 = v }
        return v
    }
}
