/// When to try a failed job again: exponential backoff with full jitter and a cap
/// (delay = random(0 … min(cap, base × 2^(attempt−1)))), so retries of many jobs spread out.
/// Given per job kind to `JobEngine.register(kind:retry:concurrency:timeout:_:)`.
///
/// ```swift
/// // Retries after up to 0.5 s, 1 s, 2 s … but never more than a minute.
/// engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 500, capMilliseconds: 60_000)) { ctx in … }
/// ```
public struct RetryPolicy: Sendable, Hashable {
    /// The ceiling of the first retry's delay; it doubles with each attempt.
    public var baseMilliseconds: Int64
    /// No delay is ever longer.
    public var capMilliseconds: Int64

    /// Negative values count as 0 (retry at once).
    public init(baseMilliseconds: Int64 = 1000, capMilliseconds: Int64 = 300_000) {
        self.baseMilliseconds = max(0, baseMilliseconds)
        self.capMilliseconds = max(0, capMilliseconds)
    }

    /// The longest delay after the given failed attempt (1-based), before jitter. A negative
    /// field (set after `init`, which clamps its own) counts as 0 here too.
    public func ceiling(afterAttempt attempt: Int) -> Int64 {
        let base = max(0, baseMilliseconds), cap = max(0, capMilliseconds)
        let shift = min(max(attempt - 1, 0), 40)
        let (grown, overflow) = base.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? cap : min(cap, grown)
    }

    /// A jittered delay in 0…ceiling, drawn from `random`.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using random: inout R) -> Int64 {
        let top = ceiling(afterAttempt: attempt)
        return top <= 0 ? 0 : Int64.random(in: 0...top, using: &random)
    }
}
