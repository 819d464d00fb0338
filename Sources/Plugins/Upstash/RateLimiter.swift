import Foundation
import GRDB
import Synchronization

/// What a rate limiter answered for one call: allowed or not, the limit, what is left of it, and
/// when the window resets (milliseconds since 1970; for a token bucket, the next refill).
public struct RateLimitResult: Sendable, Hashable {
    /// True when the calls may go ahead; false when they are over the limit.
    public var allowed: Bool
    /// The limit counted against: calls per window, or the bucket's `maxTokens`.
    public var limit: Int
    /// What is left of the limit after this call; 0 when refused, never negative.
    public var remaining: Int
    /// When the window ends, in milliseconds since 1970 (for a token bucket, the next refill).
    public var reset: Int64
    /// A result with these values (tests, limiters of your own).
    public init(allowed: Bool, limit: Int, remaining: Int, reset: Int64) {
        self.allowed = allowed; self.limit = limit; self.remaining = remaining; self.reset = reset
    }
}

/// The three algorithms of `@upstash/ratelimit` (and the Python `upstash-ratelimit`), with their
/// semantics: the same keys, the same counting, the same edge behaviour.
public enum RateLimitAlgorithm: Sendable, Hashable {
    /// `limit` calls per window of `window`; windows start at multiples of `window` since 1970.
    /// Refused calls count too. Key `<prefix>:<id>:<window index>`.
    case fixedWindow(limit: Int, window: Duration)
    /// Like the fixed window, with the previous window's count weighted by how much of it still
    /// overlaps the last `window`. Refused calls do not count. Keys as the fixed window's.
    case slidingWindow(limit: Int, window: Duration)
    /// A bucket of `maxTokens`, refilled by `refillRate` every `interval`. Key `<prefix>:<id>`, a
    /// hash with `refilledAt` and `tokens` (the JS library's field names).
    case tokenBucket(refillRate: Int, interval: Duration, maxTokens: Int)

    var windowMilliseconds: Int64 {
        switch self {
        case .fixedWindow(_, let w), .slidingWindow(_, let w): max(1, Self.ms(w))
        case .tokenBucket(_, let i, _): max(1, Self.ms(i))
        }
    }

    var limit: Int {
        switch self {
        case .fixedWindow(let l, _), .slidingWindow(let l, _): l
        case .tokenBucket(_, _, let m): m
        }
    }

    static func ms(_ d: Duration) -> Int64 { d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000 }
}

/// Allows or refuses a caller within a window. `UpstashRateLimiter` counts in Upstash Redis,
/// sharing limits with a web app that uses `@upstash/ratelimit`; `InMemoryRateLimiter` and
/// `SQLiteRateLimiter` are the same algorithms without Upstash (the embedded defaults).
public protocol RateLimiter: Sendable {
    /// Counts `rate` calls of `identifier` (1 by default) and says whether they are allowed.
    func limit(_ identifier: String, rate: Int) async throws -> RateLimitResult
}

extension RateLimiter {
    /// Counts one call of `identifier`: `limit(identifier, rate: 1)`.
    public func limit(_ identifier: String) async throws -> RateLimitResult { try await limit(identifier, rate: 1) }
}

/// The algorithms over a small key-value store with expiry: the same steps as the Lua scripts
/// `UpstashRateLimiter` runs, so that every limiter counts alike.
protocol LimiterStore {
    mutating func get(_ key: String, now: Int64) throws -> Int64?
    /// Adds `by` and returns the new value; sets the expiry in `ttl` ms when the result equals `by` (a new key).
    mutating func incr(_ key: String, by: Int64, expireAfterWhenNew ttl: Int64, now: Int64) throws -> Int64
    mutating func bucket(_ key: String, now: Int64) throws -> (refilledAt: Int64, tokens: Int64)?
    mutating func setBucket(_ key: String, refilledAt: Int64, tokens: Int64, expireAfter ttl: Int64?, now: Int64) throws
}

enum LimiterSteps {
    static func run<S: LimiterStore>(_ algorithm: RateLimitAlgorithm, prefix: String, identifier: String, rate: Int, now: Int64,
                                     store: inout S) throws -> RateLimitResult {
        let base = prefix + ":" + identifier
        let window = algorithm.windowMilliseconds
        let r = Int64(rate)
        switch algorithm {
        case .fixedWindow(let limit, _):
            let index = floorDiv(now, window)
            let used = try store.incr("\(base):\(index)", by: r, expireAfterWhenNew: window, now: now)
            return RateLimitResult(allowed: used <= Int64(limit), limit: limit, remaining: Int(max(0, Int64(limit) - used)),
                                   reset: (index + 1) * window)
        case .slidingWindow(let limit, _):
            let index = floorDiv(now, window)
            let current = try store.get("\(base):\(index)", now: now) ?? 0
            let previous = try store.get("\(base):\(index - 1)", now: now) ?? 0
            let weighted = weightedPrevious(previous, now: now, window: window)
            let reset = (index + 1) * window
            if r > 0 && weighted + current >= Int64(limit) {
                return RateLimitResult(allowed: false, limit: limit, remaining: 0, reset: reset)
            }
            let new = try store.incr("\(base):\(index)", by: r, expireAfterWhenNew: window * 2 + 1000, now: now)
            let remaining = Int64(limit) - (new + weighted)
            return RateLimitResult(allowed: remaining >= 0, limit: limit, remaining: Int(max(0, remaining)), reset: reset)
        case .tokenBucket(let refillRate, _, let maxTokens):
            var refilledAt = now, tokens = Int64(maxTokens)
            if let b = try store.bucket(base, now: now) { refilledAt = b.refilledAt; tokens = b.tokens }
            if now >= refilledAt + window {
                let refills = (now - refilledAt) / window
                tokens = min(Int64(maxTokens), tokens + refills * Int64(refillRate))
                refilledAt += refills * window
            }
            if r > 0 && tokens < r {
                return RateLimitResult(allowed: false, limit: maxTokens, remaining: 0, reset: refilledAt + window)
            }
            let remaining = tokens - r
            let expireAt = Int64((Double(Int64(maxTokens) - remaining) / Double(max(1, refillRate))).rounded(.up)) * window
            try store.setBucket(base, refilledAt: refilledAt, tokens: remaining, expireAfter: expireAt > 0 ? expireAt : nil, now: now)
            return RateLimitResult(allowed: remaining >= 0, limit: maxTokens, remaining: Int(max(0, remaining)), reset: refilledAt + window)
        }
    }

    /// `floor((1 - (now % window) / window) * previous)`, as the scripts compute it.
    static func weightedPrevious(_ previous: Int64, now: Int64, window: Int64) -> Int64 {
        let inCurrent = Double(now % window) / Double(window)
        return Int64(((1 - inCurrent) * Double(previous)).rounded(.down))
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}

/// The rate limiter algorithms in this process's memory: for one process, and for tests.
public final class InMemoryRateLimiter: RateLimiter, Sendable {
    /// The algorithm and its limits.
    public let algorithm: RateLimitAlgorithm
    /// Keys are `<prefix>:<identifier>…`: limiters with different prefixes count apart.
    public let prefix: String
    private let now: @Sendable () -> Int64
    private let store = Mutex(MemoryStore())

    /// Keyed by the keys' UTF-8 bytes, as Redis keys are: two identifiers that are the same text
    /// in two Unicode forms (`é` and `e` + U+0301, which Swift's `String ==` calls equal) are two
    /// users, counted apart.
    struct MemoryStore: LimiterStore {
        var counters: [[UInt8]: (value: Int64, expiresAt: Int64?)] = [:]
        var buckets: [[UInt8]: (refilledAt: Int64, tokens: Int64, expiresAt: Int64?)] = [:]

        mutating func get(_ key: String, now: Int64) -> Int64? { get(Array(key.utf8), now: now) }
        private mutating func get(_ key: [UInt8], now: Int64) -> Int64? {
            guard let c = counters[key] else { return nil }
            if let e = c.expiresAt, e <= now { counters[key] = nil; return nil }
            return c.value
        }
        mutating func incr(_ key: String, by: Int64, expireAfterWhenNew ttl: Int64, now: Int64) -> Int64 {
            let key = Array(key.utf8)
            let value = (get(key, now: now) ?? 0) + by
            let expires = value == by ? now + ttl : counters[key]?.expiresAt
            counters[key] = (value, expires)
            return value
        }
        mutating func bucket(_ key: String, now: Int64) -> (refilledAt: Int64, tokens: Int64)? {
            let key = Array(key.utf8)
            guard let b = buckets[key] else { return nil }
            if let e = b.expiresAt, e <= now { buckets[key] = nil; return nil }
            return (b.refilledAt, b.tokens)
        }
        mutating func setBucket(_ key: String, refilledAt: Int64, tokens: Int64, expireAfter ttl: Int64?, now: Int64) {
            let key = Array(key.utf8)
            buckets[key] = (refilledAt, tokens, ttl.map { now + $0 } ?? buckets[key]?.expiresAt)
        }
    }

    /// A limiter with `@upstash/ratelimit`'s default prefix; `now` gives milliseconds since 1970.
    public init(_ algorithm: RateLimitAlgorithm, prefix: String = UpstashRateLimiter.defaultPrefix,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.algorithm = algorithm; self.prefix = prefix; self.now = now
    }

    /// Counts `rate` calls of `identifier` in this process's memory, under a lock; does not throw.
    public func limit(_ identifier: String, rate: Int) async throws -> RateLimitResult {
        let t = now()
        return try store.withLock { s in try LimiterSteps.run(algorithm, prefix: prefix, identifier: identifier, rate: rate, now: t, store: &s) }
    }
}

/// The rate limiter algorithms in a local SQLite file (a table of counters and buckets): shared by
/// the processes of one machine, kept across restarts, no Upstash needed.
public final class SQLiteRateLimiter: RateLimiter, Sendable {
    /// The algorithm and its limits.
    public let algorithm: RateLimitAlgorithm
    /// Keys are `<prefix>:<identifier>…`: limiters with different prefixes count apart.
    public let prefix: String
    private let queue: DatabaseQueue
    private let now: @Sendable () -> Int64

    /// Opens (creating when needed) the limiter's table in the SQLite file at `path`: the log's
    /// own file works, the table is separate from the events.
    public init(path: String, _ algorithm: RateLimitAlgorithm, prefix: String = UpstashRateLimiter.defaultPrefix,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS rate_limits (
                    key TEXT PRIMARY KEY, value INTEGER, refilled_at INTEGER, expires_at INTEGER)
                """)
        }
        self.algorithm = algorithm; self.prefix = prefix; self.now = now
    }

    struct TableStore: LimiterStore {
        let db: Database
        mutating func get(_ key: String, now: Int64) throws -> Int64? {
            try Int64.fetchOne(db, sql: "SELECT value FROM rate_limits WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", arguments: [key, now])
        }
        mutating func incr(_ key: String, by: Int64, expireAfterWhenNew ttl: Int64, now: Int64) throws -> Int64 {
            let value = (try get(key, now: now) ?? 0) + by
            if value == by {
                try db.execute(sql: "INSERT OR REPLACE INTO rate_limits (key, value, refilled_at, expires_at) VALUES (?, ?, NULL, ?)",
                               arguments: [key, value, now + ttl])
            } else {
                try db.execute(sql: "UPDATE rate_limits SET value = ? WHERE key = ?", arguments: [value, key])
            }
            return value
        }
        mutating func bucket(_ key: String, now: Int64) throws -> (refilledAt: Int64, tokens: Int64)? {
            guard let row = try Row.fetchOne(db, sql: "SELECT refilled_at, value FROM rate_limits WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                                             arguments: [key, now]),
                  let at: Int64 = row[0], let tokens: Int64 = row[1] else { return nil }
            return (at, tokens)
        }
        mutating func setBucket(_ key: String, refilledAt: Int64, tokens: Int64, expireAfter ttl: Int64?, now: Int64) throws {
            let old = try Int64.fetchOne(db, sql: "SELECT expires_at FROM rate_limits WHERE key = ?", arguments: [key])
            try db.execute(sql: "INSERT OR REPLACE INTO rate_limits (key, value, refilled_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [key, tokens, refilledAt, ttl.map { now + $0 } ?? old])
        }
    }

    /// Counts `rate` calls of `identifier` in one write transaction, after deleting this prefix's
    /// expired rows; throws the database's error (a busy file is waited for up to 5 seconds).
    public func limit(_ identifier: String, rate: Int) async throws -> RateLimitResult {
        let t = now(), algorithm = self.algorithm, prefix = self.prefix
        return try await queue.write { db in
            try db.execute(sql: "DELETE FROM rate_limits WHERE expires_at IS NOT NULL AND expires_at <= ? AND key LIKE ? ESCAPE '\\'",
                           arguments: [t, Self.likePrefix(prefix)])
            var store = TableStore(db: db)
            return try LimiterSteps.run(algorithm, prefix: prefix, identifier: identifier, rate: rate, now: t, store: &store)
        }
    }

    static func likePrefix(_ p: String) -> String {
        p.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + ":%"
    }
}
