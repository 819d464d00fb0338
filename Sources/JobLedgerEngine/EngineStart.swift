import JobLedger
import JobLedgerSQLite

/// What an engine starting on a log reads before its first claim: the events after the engine
/// snapshot it can start from (all of them when there is none, as after an `import`). Known in
/// two small reads, so a command can say beforehand that a start will be long (600,000 events
/// without a snapshot took 14 s, in silence) and not slow the usual start.
///
/// ```swift
/// let start = try EngineStart.of(ledger)
/// if start.isLong { print(start.beginning) }     // rebuilding the engine's state from 600000 events (no snapshot) …
/// ```
public struct EngineStart: Sendable, Equatable {
    /// The seq of the engine snapshot the engine can start from; nil when there is none that
    /// belongs to this log.
    public var snapshotSeq: Int64?
    /// The log's head when asked.
    public var head: Int64

    /// Events to read past the snapshot from which a start is worth saying (a few seconds).
    public static let longFrom: Int64 = 100_000

    public init(snapshotSeq: Int64?, head: Int64) {
        self.snapshotSeq = snapshotSeq
        self.head = head
    }

    /// The snapshot and the head of `ledger` now.
    public static func of(_ ledger: Ledger) throws(LedgerError) -> EngineStart {
        let snapshot = try ledger.readEngineSnapshot { seq, _, _, _ in seq }
        return EngineStart(snapshotSeq: snapshot, head: try ledger.head()?.seq ?? 0)
    }

    /// The events the engine folds before its first claim.
    public var eventsToRead: Int64 { max(0, head - (snapshotSeq ?? 0)) }

    /// Whether reading them takes long enough to be said (`longFrom` events or more).
    public func isLong(from threshold: Int64 = longFrom) -> Bool { eventsToRead >= threshold }

    /// What is said before: how much is read, and from where.
    public var beginning: String {
        let from = snapshotSeq.map { "after the engine snapshot at seq \($0)" } ?? "no snapshot"
        return "rebuilding the engine's state from \(eventsToRead) event\(eventsToRead == 1 ? "" : "s") (\(from)) …"
    }
}

extension JobEngine {
    /// The seq up to which the engine's view of the log has read (0 before its first read):
    /// its start is over once this reaches the head it started at (`EngineStart.head`).
    public var viewSeq: Int64 { state.withLock { $0.view.lastSeq } }
}
