import JobLedger
import JobLedgerSQLite

/// `ProjectionRunner.Options` a runner cannot work with, refused by `catchUp()`,
/// `drain(for:)`, `runLive()` and `run()` before they touch the log: a batch size below 1
/// crashed the process or applied nothing for ever, a delivery batch of 0 delivered nothing
/// and reported items pending with no error. Check options early yourself with
/// `ProjectionRunner.Options.validate()`.
///
/// ```swift
/// var options = ProjectionRunner.Options()
/// options.batchSize = 0
/// try options.validate()   // throws: invalid ProjectionRunner option 'batchSize': must be in 1…100000 events, got 0
/// ```
public struct InvalidProjectionOptions: Error, Sendable, Hashable, CustomStringConvertible {
    /// The option refused, by its name in `ProjectionRunner.Options` (`batchSize`,
    /// `retry.baseMilliseconds`, `storageFaults.giveUpAfter`).
    public let option: String
    /// What it must be, and what it was.
    public let reason: String

    /// A refusal of `option`, saying why.
    public init(option: String, reason: String) { self.option = option; self.reason = reason }

    /// `invalid ProjectionRunner option '<option>': <reason>`.
    public var description: String { "invalid ProjectionRunner option '\(option)': \(reason)" }
}

extension ProjectionRunner.Options {
    /// The batch sizes a runner takes (`batchSize`, `stateBatchSize`, `deliveryBatch`): at least one, and no more
    /// than one transaction or one call should hold.
    public static let batchRange = 1...100_000
    /// The longest `owner` a runner takes, in UTF-8 bytes.
    public static let maxOwnerBytes = 200
    /// The longest lease a runner takes on an effect projection: a year.
    public static let maxLeaseMilliseconds: Int64 = 365 * 24 * 3_600_000

    /// Throws `InvalidProjectionOptions` for an option a runner cannot work with: an `owner`
    /// that is empty, over `maxOwnerBytes` or holds a control character, a `batchSize`,
    /// `stateBatchSize` or `deliveryBatch` outside `batchRange`, a `maxAttempts` below 1, a negative
    /// `batchWindow`, `stateBatchWindow`, `shutdownCatchUp` or `maxRetryAfterMilliseconds`, a `retry` with a
    /// negative `baseMilliseconds` or `capMilliseconds`, a `pollInterval` or `renewInterval`
    /// that is not positive, a `leaseMilliseconds` outside 1…`maxLeaseMilliseconds`, or a
    /// negative duration in `storageFaults`. The runner checks this itself before it works;
    /// call it to refuse bad options where they are made (read from a configuration file, say).
    ///
    /// ```swift
    /// var options = ProjectionRunner.Options()
    /// options.deliveryBatch = settings.deliveryBatch
    /// try options.validate()
    /// ```
    public func validate() throws(InvalidProjectionOptions) {
        // The owner is what a lease is held by: two runners with an empty owner (an unset
        // configuration value) would each take the other's lease for its own and deliver the
        // same items twice. It is logged and shown in `projections status`, so a line break in
        // it would forge log lines.
        guard !owner.isEmpty, owner.utf8.count <= Self.maxOwnerBytes,
              !owner.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw InvalidProjectionOptions(option: "owner", reason:
                "must be 1…\(Self.maxOwnerBytes) bytes with no control characters, unique per running process (default: <host>/<pid namespace>:<pid>), got \(owner.isEmpty ? "an empty string" : "\(owner.utf8.count) bytes")")
        }
        let batches = Self.batchRange
        // Below 1 the log is read in batches of nothing: nothing is ever applied (0), or the
        // process stops on an impossible range (-1).
        guard batches.contains(batchSize) else {
            throw InvalidProjectionOptions(option: "batchSize", reason: "must be in \(batches.lowerBound)…\(batches.upperBound) events, got \(batchSize)")
        }
        guard batchWindow >= .zero else {
            throw InvalidProjectionOptions(option: "batchWindow", reason: "must be zero or more (zero: step again at once), got \(batchWindow)")
        }
        guard batches.contains(stateBatchSize) else {
            throw InvalidProjectionOptions(option: "stateBatchSize", reason: "must be in \(batches.lowerBound)…\(batches.upperBound) events, got \(stateBatchSize)")
        }
        guard stateBatchWindow >= .zero else {
            throw InvalidProjectionOptions(option: "stateBatchWindow", reason: "must be zero or more (zero: step again at once), got \(stateBatchWindow)")
        }
        guard shutdownCatchUp >= .zero else {
            throw InvalidProjectionOptions(option: "shutdownCatchUp", reason: "must be zero or more (zero: stop at once), got \(shutdownCatchUp)")
        }
        // 0 hands every projection empty deliveries: nothing is sent, and items stay pending
        // with no error to say why.
        guard batches.contains(deliveryBatch) else {
            throw InvalidProjectionOptions(option: "deliveryBatch", reason: "must be in \(batches.lowerBound)…\(batches.upperBound) items, got \(deliveryBatch)")
        }
        guard maxAttempts >= 1 else {
            throw InvalidProjectionOptions(option: "maxAttempts", reason: "must be at least 1 (tries before an item becomes a dead letter), got \(maxAttempts)")
        }
        // The fields are `var`s: a negative one set after `RetryPolicy.init` (which clamps)
        // would make the jitter's range impossible, and stop the process at the first failure.
        guard retry.baseMilliseconds >= 0 else {
            throw InvalidProjectionOptions(option: "retry.baseMilliseconds", reason: "must be zero or more, got \(retry.baseMilliseconds)")
        }
        guard retry.capMilliseconds >= 0 else {
            throw InvalidProjectionOptions(option: "retry.capMilliseconds", reason: "must be zero or more, got \(retry.capMilliseconds)")
        }
        // Zero would look at the log in a busy loop.
        guard pollInterval > .zero else {
            throw InvalidProjectionOptions(option: "pollInterval", reason: "must be positive, got \(pollInterval)")
        }
        guard (1...Self.maxLeaseMilliseconds).contains(leaseMilliseconds) else {
            throw InvalidProjectionOptions(option: "leaseMilliseconds",
                                           reason: "must be in 1…\(Self.maxLeaseMilliseconds) (a year), got \(leaseMilliseconds)")
        }
        if let renewInterval, renewInterval <= .zero {
            throw InvalidProjectionOptions(option: "renewInterval", reason: "must be positive (nil: a third of leaseMilliseconds), got \(renewInterval)")
        }
        guard maxRetryAfterMilliseconds >= 0 else {
            throw InvalidProjectionOptions(option: "maxRetryAfterMilliseconds", reason: "must be zero or more, got \(maxRetryAfterMilliseconds)")
        }
        if let (field, reason) = storageFaults.invalidField {
            throw InvalidProjectionOptions(option: "storageFaults.\(field)", reason: reason)
        }
    }
}

extension ProjectionRunner {
    /// Throws what keeps this runner from running, before anything touches the log: the
    /// projections it was given (`ProjectionRegistrationError`), then its options
    /// (`InvalidProjectionOptions`).
    func checkRunnable() throws {
        if let registrationError { throw registrationError }
        try options.validate()
    }
}
