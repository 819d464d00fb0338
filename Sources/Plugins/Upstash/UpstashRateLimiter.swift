import Foundation

/// A rate limiter counting in Upstash Redis with the keys, counting and edge behaviour of
/// `@upstash/ratelimit` (and the Python `upstash-ratelimit`): a Swift service and the web app,
/// given the same prefix, identifier and algorithm, count against one limit.
///
/// - Fixed and sliding window share state with both the JS and the Python library.
/// - Token bucket uses the JS library's hash fields (`refilledAt`, `tokens`); the Python library
///   names them differently (`refilled_at`), so do not share a token bucket's prefix with it. A
///   call asking for more tokens than are left is refused without being stored (the corrected
///   guard of both libraries' latest versions).
/// - The window index and `now` come from this process's clock, as in the libraries.
/// - Each call is one `EVALSHA` (or `EVAL` when the script is not cached), never retried after it
///   may have reached Redis (it would count twice).
///
/// ```swift
/// let limiter = UpstashRateLimiter(redis: redis, .slidingWindow(limit: 10, window: .seconds(10)))
/// let r = try await limiter.limit("user_123")
/// if !r.allowed { /* 429, retry at r.reset */ }
/// ```
public final class UpstashRateLimiter: RateLimiter, Sendable {
    /// `@upstash/ratelimit`'s default key prefix.
    public static let defaultPrefix = "@upstash/ratelimit"

    /// The client the scripts run through.
    public let redis: UpstashRedis
    /// The algorithm and its limits.
    public let algorithm: RateLimitAlgorithm
    /// Keys are `<prefix>:<identifier>…`; the web app's limiter shares the count only with the
    /// same prefix (default `@upstash/ratelimit`).
    public let prefix: String
    private let now: @Sendable () -> Int64

    /// A limiter counting in `redis`; `now` gives milliseconds since 1970 (the window comes from it).
    public init(redis: UpstashRedis, _ algorithm: RateLimitAlgorithm, prefix: String = defaultPrefix,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.redis = redis; self.algorithm = algorithm; self.prefix = prefix; self.now = now
    }

    /// Counts `rate` calls of `identifier` (1 by default) with one script call; throws the
    /// request's `UpstashError` (never retried once it may have reached Redis).
    public func limit(_ identifier: String, rate: Int = 1) async throws -> RateLimitResult {
        let t = now()
        let base = prefix + ":" + identifier
        let window = algorithm.windowMilliseconds
        switch algorithm {
        case .fixedWindow(let limit, _):
            let index = LimiterSteps.floorDiv(t, window)
            let used = try await redis.eval(Self.fixedWindow, keys: ["\(base):\(index)"], args: [String(window), String(rate)]).int ?? 0
            return RateLimitResult(allowed: used <= Int64(limit), limit: limit, remaining: Int(max(0, Int64(limit) - used)), reset: (index + 1) * window)
        case .slidingWindow(let limit, _):
            let index = LimiterSteps.floorDiv(t, window)
            let remaining = try await redis.eval(Self.slidingWindow, keys: ["\(base):\(index)", "\(base):\(index - 1)"],
                                                 args: [String(limit), String(t), String(window), String(rate)]).int ?? -1
            return RateLimitResult(allowed: remaining >= 0, limit: limit, remaining: Int(max(0, remaining)), reset: (index + 1) * window)
        case .tokenBucket(let refillRate, _, let maxTokens):
            let reply = try await redis.eval(Self.tokenBucket, keys: [base],
                                             args: [String(maxTokens), String(window), String(refillRate), String(t), String(rate)])
            let parts = reply.array ?? []
            let remaining = parts.first?.int ?? -1
            let reset = parts.count > 1 ? parts[1].int ?? 0 : 0
            return RateLimitResult(allowed: remaining >= 0, limit: maxTokens, remaining: Int(max(0, remaining)), reset: reset)
        }
    }

    /// KEYS[1] the window's counter. ARGV: window (ms), increment. Returns the count.
    static let fixedWindow = LuaScript("""
        local count = redis.call('INCRBY', KEYS[1], ARGV[2])
        if count == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return count
        """)

    /// KEYS: this window's counter, the previous one's. ARGV: limit, now (ms), window (ms),
    /// increment. Returns what remains, or -1 when refused (nothing counted then).
    static let slidingWindow = LuaScript("""
        local limit = tonumber(ARGV[1])
        local now = tonumber(ARGV[2])
        local window = tonumber(ARGV[3])
        local increment = tonumber(ARGV[4])
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
        previous = math.floor((1 - (now % window) / window) * previous)
        if increment > 0 and previous + current >= limit then return -1 end
        local count = redis.call('INCRBY', KEYS[1], increment)
        if count == increment then redis.call('PEXPIRE', KEYS[1], window * 2 + 1000) end
        return limit - (count + previous)
        """)

    /// KEYS[1] the bucket (hash refilledAt, tokens). ARGV: max tokens, interval (ms), refill rate,
    /// now (ms), increment. Returns {remaining or -1, next refill time}.
    static let tokenBucket = LuaScript("""
        local maxTokens = tonumber(ARGV[1])
        local interval = tonumber(ARGV[2])
        local refillRate = tonumber(ARGV[3])
        local now = tonumber(ARGV[4])
        local increment = tonumber(ARGV[5])
        local bucket = redis.call('HMGET', KEYS[1], 'refilledAt', 'tokens')
        local refilledAt = now
        local tokens = maxTokens
        if bucket[1] then
          refilledAt = tonumber(bucket[1])
          tokens = tonumber(bucket[2])
        end
        if now >= refilledAt + interval then
          local refills = math.floor((now - refilledAt) / interval)
          tokens = math.min(maxTokens, tokens + refills * refillRate)
          refilledAt = refilledAt + refills * interval
        end
        if increment > 0 and tokens < increment then return {-1, refilledAt + interval} end
        local remaining = tokens - increment
        local expireAt = math.ceil((maxTokens - remaining) / refillRate) * interval
        redis.call('HSET', KEYS[1], 'refilledAt', refilledAt, 'tokens', remaining)
        if expireAt > 0 then redis.call('PEXPIRE', KEYS[1], expireAt) end
        return {remaining, refilledAt + interval}
        """)
}
