import Foundation
import Synchronization

/// Where the engine gets the time. Tests inject a `ManualClock` so that nothing waits on the
/// wall clock; the ledger should be opened with the same clock (`LedgerConfiguration.clock`).
public protocol JobClock: Sendable {
    /// The current time.
    func now() -> Timestamp
}

/// The wall clock.
public struct SystemClock: JobClock {
    /// The wall clock.
    public init() {}
    /// The wall clock's time now.
    public func now() -> Timestamp { .now }
}

/// A clock that moves only when told to: tests run leases, retries and delays without waiting.
///
/// ```swift
/// let clock = ManualClock()
/// var config = LedgerConfiguration(); config.clock = clock.function
/// let engine = JobEngine(ledger: try Ledger.open(path: path, configuration: config), clock: clock)
/// clock.advance(milliseconds: 31_000)   // past the lease: the next tick() requeues the job
/// ```
public final class ManualClock: JobClock {
    private let current: Mutex<Timestamp>
    /// A clock standing at `start` (by default a fixed moment in 2026).
    public init(_ start: Timestamp = Timestamp(milliseconds: 1_795_000_000_000)) { current = Mutex(start) }
    /// Where the clock stands.
    public func now() -> Timestamp { current.withLock { $0 } }
    /// Moves the clock forward by `ms` milliseconds (backward when negative).
    public func advance(milliseconds ms: Int64) { current.withLock { $0 = $0.adding(milliseconds: ms) } }
    /// The clock as a `LedgerConfiguration.clock` function.
    public var function: @Sendable () -> Timestamp { { self.now() } }
}
