import Foundation
import Synchronization

/// Where the engine gets the time, and how it waits for a moment to come. Tests inject a
/// `ManualClock` so that nothing waits on the wall clock; the ledger should be opened with the
/// same clock (`LedgerConfiguration.clock`).
public protocol JobClock: Sendable {
    /// The current time.
    func now() -> Timestamp
    /// Suspends until the clock reads `deadline` or later; throws `CancellationError` when the
    /// waiting task is cancelled first. The default waits on the wall clock for the difference.
    func sleep(until deadline: Timestamp) async throws
}

extension JobClock {
    /// Waits `deadline − now()` on the wall clock (returns at once for a moment already past).
    public func sleep(until deadline: Timestamp) async throws {
        let wait = deadline.milliseconds - now().milliseconds
        if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) } else { try Task.checkCancellation() }
    }
}

/// The wall clock.
public struct SystemClock: JobClock {
    /// The wall clock.
    public init() {}
    /// The wall clock's time now.
    public func now() -> Timestamp { .now }
}

/// A clock that moves only when told to: tests run leases, retries and delays without waiting.
/// A task sleeping on it (`sleep(until:)`) wakes when `advance(milliseconds:)` reaches its
/// deadline.
///
/// ```swift
/// let clock = ManualClock()
/// var config = LedgerConfiguration(); config.clock = clock.function
/// let engine = JobEngine(ledger: try Ledger.open(path: path, configuration: config), clock: clock)
/// clock.advance(milliseconds: 31_000)   // past the lease: the next tick() requeues the job
/// ```
public final class ManualClock: JobClock {
    private struct Sleeper {
        let deadline: Timestamp
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Timestamp
        var nextSleeper: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        /// Sleepers announced but not installed yet, and those of them cancelled meanwhile.
        var announced: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    private let state: Mutex<State>
    /// A clock standing at `start` (by default a fixed moment in 2026).
    public init(_ start: Timestamp = Timestamp(milliseconds: 1_795_000_000_000)) { state = Mutex(State(now: start)) }
    /// Where the clock stands.
    public func now() -> Timestamp { state.withLock { $0.now } }

    /// Moves the clock forward by `ms` milliseconds (backward when negative), waking the tasks
    /// whose deadline it reaches.
    public func advance(milliseconds ms: Int64) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = s.now.adding(milliseconds: ms)
            let ids = s.sleepers.filter { $0.value.deadline <= s.now }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for c in due { c.resume() }
    }

    /// Suspends until `advance(milliseconds:)` brings the clock to `deadline` (returns at once
    /// when it is there already).
    public func sleep(until deadline: Timestamp) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextSleeper += 1
            s.announced.insert(s.nextSleeper)
            return s.nextSleeper
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    s.announced.remove(id)
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if s.now >= deadline { return .success(()) }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: c)
                    return nil
                }
                if let outcome { c.resume(with: outcome) }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let sleeper = s.sleepers.removeValue(forKey: id) { return sleeper.continuation }
                if s.announced.contains(id) { s.cancelled.insert(id) }
                return nil
            }
            waiting?.resume(throwing: CancellationError())
        }
    }

    /// The clock as a `LedgerConfiguration.clock` function.
    public var function: @Sendable () -> Timestamp { { self.now() } }
}
