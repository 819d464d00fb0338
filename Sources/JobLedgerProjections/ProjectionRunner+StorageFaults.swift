import GRDB
import JobLedger
import JobLedgerSQLite
import Logging

/// Waiting out storage faults (a full disk, an I/O error, a log that became read-only or
/// vanished): the projections' steps share one `StoragePause` and are retried with backoff;
/// a delivery whose sending could not be recorded is recorded before anything else is
/// delivered. Metrics: `jobledger_storage_faults_total` (failed writes, by `kind`) and
/// `jobledger_storage_paused` (1 while paused), both with `component` = `projections`.
extension ProjectionRunner {
    /// The storage fault the projections are waiting out and when it began; nil while storage
    /// works. For a health check: the steps resume by themselves when it clears.
    public var storageFault: (fault: StorageFault, since: Timestamp)? { storage.current }

    /// What is left of the current fault's `giveUpAfter`; nil while storage works or without one.
    func timeUntilGiveUp() -> Duration? {
        guard let limit = options.storageFaults.giveUpAfter, let (_, since) = storage.current else { return nil }
        return max(limit - .milliseconds(clock.now().milliseconds - since.milliseconds), .milliseconds(1))
    }

    /// Records items as sent (with what the projection keeps of them), keeping them aside when a
    /// storage fault stops it: `deliver` records them first on its next turn, instead of
    /// delivering them again.
    func recordSent(_ delivery: UnrecordedDelivery, of p: any EffectProjection) async throws {
        let receipts = delivery.receipts
        let alsoRecord: (@Sendable (Database) throws -> Void)? = receipts.isEmpty ? nil : { @Sendable db in
            try p.recordDelivered(receipts, db: db)
        }
        let ledger = self.ledger
        do {
            try await Self.uncancelled {
                try await ledger.markSent(delivery.items, lease: delivery.lease, at: delivery.at, alsoRecord: alsoRecord)
            }
        } catch let e as LedgerError where e.storageFault != nil {
            unrecorded.withLock { $0[p.name] = delivery }
            throw e
        }
        unrecorded.withLock { $0[p.name] = nil }
        count("delivered", p.name, delivery.items.count)
    }
}

/// Items delivered whose sending is not recorded yet (a storage fault stopped it).
struct UnrecordedDelivery: Sendable {
    let items: [OutboxItem]
    let receipts: [(item: OutboxItem, receipt: String)]
    let lease: ProjectionLease
    let at: Timestamp
}
