/// When to try a failed job again: exponential backoff with full jitter and a cap
/// (delay = random(0 … min(cap, base × 2^(attempt−1)))), so retries of many jobs spread out.
public struct RetryPolicy: Sendable, Hashable {
    public var baseMilliseconds: Int64
    public var capMilliseconds: Int64

    public init(baseMilliseconds: Int64 = 1000, capMilliseconds: Int64 = 300_000) {
        self.baseMilliseconds = max(0, baseMilliseconds)
        self.capMilliseconds = max(0, capMilliseconds)
    }

    /// The longest delay after the given failed attempt (1-based), before jitter.
    public func ceiling(afterAttempt attempt: Int) -> Int64 {
        let shift = min(max(attempt - 1, 0), 40)
        let (grown, overflow) = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? capMilliseconds : min(capMilliseconds, grown)
    }

    /// A jittered delay in 0…ceiling, drawn from `random`.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using random: inout R) -> Int64 {
        let top = ceiling(afterAttempt: attempt)
        return top == 0 ? 0 : Int64.random(in: 0...top, using: &random)
    }
}
