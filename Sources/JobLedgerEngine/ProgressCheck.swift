import JobLedger
import JobLedgerSQLite

/// A handler's progress report checked when the handler makes it, against what the log would
/// refuse: a merged report is written later, by a timer or before `completed`, where a refusal
/// could no longer reach the handler (it was dropped, and logged as a lost claim).
extension JobEngine {
    /// Throws the log's refusal of a report of `fraction` from a running attempt whose latest
    /// report was `previous`: `LedgerError.rejected` with `progressOutOfRange` (NaN, ±infinity,
    /// outside 0…1) or `progressBackwards`.
    func checkProgress(job: JobID, fraction: Double, after previous: Double) throws(LedgerError) {
        if let rule = Lifecycle.progressRefusal(fraction, after: previous) {
            throw .rejected(LifecycleError(job: job, state: .running, event: .progress, rule: rule))
        }
    }

    /// Throws `LedgerError.payloadTooLarge` for a report whose event would be over the log's
    /// `maxPayloadBytes` (a very long message).
    func checkProgressSize(job: JobID, attempt: Int, fraction: Double, message: String?, lease: Timestamp) throws(LedgerError) {
        let limit = ledger.configuration.maxPayloadBytes
        let size = EventPayload.progress(.init(fraction: fraction, message: message, leaseDeadline: lease, attempt: attempt)).canonicalBytes.count
        if size > limit { throw .payloadTooLarge(job: job, size: size, limit: limit) }
    }
}
