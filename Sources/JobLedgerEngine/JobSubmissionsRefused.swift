import JobLedger
import JobLedgerSQLite

/// Thrown by `JobEngine.submit(_:)` when the log refused some requests of a batch: their
/// `queued` event is over the log's payload limit or breaks its rules, or their idempotency key
/// belongs to a job asked for with another request (`IdempotencyKeyReused`). Every other
/// request of the batch **is committed**: an intake acknowledges those (their ids are in
/// `jobs`) and dead-letters the refused ones with their reason, which it must not deliver again
/// (the log would refuse them again, for ever).
///
/// One refused request failed the whole batch: a 100 KB stream entry held every entry behind it
/// for good, and a key reused with another request (another owner) was handed the first job,
/// whose status hash then took the second owner's name.
public struct JobSubmissionsRefused: Error, Sendable, CustomStringConvertible {
    /// For each request of the batch, in order: its job (queued now, or the first job of its
    /// idempotency key for the same request again), or nil when it was refused.
    public let jobs: [JobID?]
    /// Why each refused request was refused, by its index in the batch.
    public let refusals: [Int: String]

    /// A batch with `refusals` refused and the others queued as `jobs`.
    public init(jobs: [JobID?], refusals: [Int: String]) {
        self.jobs = jobs; self.refusals = refusals
    }

    /// `N of M requests refused: #i: reason; …`.
    public var description: String {
        let shown = refusals.keys.sorted().prefix(3).map { "#\($0): \(refusals[$0]!)" }
        return "\(refusals.count) of \(jobs.count) requests refused by the log (the others were queued): " + shown.joined(separator: "; ")
            + (refusals.count > 3 ? "; …" : "")
    }

    /// Whether `error`, thrown by an append of one request, is the log refusing that request
    /// (its size, its fields) rather than the log failing (busy, storage): only then is the
    /// request refused; a failing log fails the whole batch, to be tried again.
    static func refusesTheRequest(_ error: any Error) -> Bool {
        guard let e = error as? LedgerError else { return false }
        switch e {
        case .payloadTooLarge, .invalidPayload, .rejected, .invalidJobID: return true
        default: return false
        }
    }
}
