import Hummingbird
import HTTPTypes
import JobLedgerUpstash
import Logging
import Synchronization

/// The per-user limit on submits: a `RateLimiter` (Upstash's when configured, else the
/// embedded in-memory one) and the headers it answers with: `RateLimit-Limit`,
/// `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window resets) on every submit,
/// and a 429 problem with `Retry-After` when the user is over the limit.
public struct SubmitLimiter: Sendable {
    /// The counter.
    public let limiter: any RateLimiter
    /// Milliseconds since 1970: the same clock the limiter counts with.
    let now: @Sendable () -> Int64
    /// Where a limiter that cannot answer is said: a warning at the first refused submit and at
    /// most one every `warningInterval` while it lasts (every submit is refused with a 503
    /// meanwhile, and a wrong token would otherwise fail silently).
    let logger: Logger
    private let lastWarning = LastWarning()
    static let warningInterval: Int64 = 10_000

    /// When the last warning was logged (shared by the copies of a limiter).
    final class LastWarning: Sendable {
        let at = Mutex<Int64?>(nil)
    }

    /// A limiter and the clock it counts with.
    public init(limiter: any RateLimiter, now: @escaping @Sendable () -> Int64,
                logger: Logger = Logger(label: "jobledger.serve.limiter")) {
        self.limiter = limiter; self.now = now; self.logger = logger
    }

    /// The embedded limiter for `spec`, on `now`.
    public static func inMemory(_ spec: RateLimitSpec, now: @escaping @Sendable () -> Int64) -> SubmitLimiter {
        SubmitLimiter(limiter: InMemoryRateLimiter(spec.algorithm, prefix: "jobledger:submit", now: now), now: now)
    }

    static let limitHeader = HTTPField.Name("RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("RateLimit-Reset")!

    /// Counts one submit of `subject`: the headers to send, or a 429 problem carrying them.
    /// A limiter that cannot answer (Upstash unreachable) is a 503, never a free pass.
    func check(_ subject: String) async throws(Problem) -> HTTPFields {
        let r: RateLimitResult
        do { r = try await limiter.limit(subject) } catch {
            let t = now()
            let due = lastWarning.at.withLock { last in
                guard last.map({ t - $0 >= Self.warningInterval }) ?? true else { return false }
                last = t
                return true
            }
            // The error's text names the cause (status, refusal, unreachable), never the token.
            if due { logger.warning("the rate limiter cannot answer, so submits are refused with 503 until it does: \(error)") }
            throw Problem.unavailable("the rate limiter is unavailable; try again shortly")
        }
        let seconds = max(0, (r.reset - now() + 999) / 1000)
        var h = HTTPFields()
        h[Self.limitHeader] = "\(r.limit)"
        h[Self.remainingHeader] = "\(r.remaining)"
        h[Self.resetHeader] = "\(seconds)"
        guard r.allowed else {
            h[.retryAfter] = "\(max(1, seconds))"
            throw Problem(.tooManyRequests, "rate-limited", "more than \(r.limit) submits in the window; retry after \(max(1, seconds)) s",
                          headers: h)
        }
        return h
    }
}
