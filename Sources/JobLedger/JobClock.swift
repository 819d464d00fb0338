import Foundation
import Synchronization

/// Where the engine gets the time. Tests inject a `ManualClock` so that nothing waits on the
/// wall clock; the ledger should be opened with the same clock (`LedgerConfiguration.clock`).
public protocol JobClock: Sendable {
    func now() -> Timestamp
}

/// The wall clock.
public struct SystemClock: JobClock {
    public init() {}
    public func now() -> Timestamp { .now }
}

/// A clock that moves only when told to.
public final class ManualClock: JobClock {
    private let current: Mutex<Timestamp>
    public init(_ start: Timestamp = Timestamp(milliseconds: 1_795_000_000_000)) { current = Mutex(start) }
    public func now() -> Timestamp { current.withLock { $0 } }
    public func advance(milliseconds ms: Int64) { current.withLock { $0 = $0.adding(milliseconds: ms) } }
    /// The clock as a `LedgerConfiguration.clock` function.
    public var function: @Sendable () -> Timestamp { { self.now() } }
}
