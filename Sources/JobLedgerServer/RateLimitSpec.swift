import JobLedgerUpstash

/// `JOBLEDGER_RATE_LIMIT`: how many submits one user may make per window, as `10/60s`
/// (`s`, `m`, `h` or `ms`), sliding window by default; `fixed:10/60s` for a fixed window.
public struct RateLimitSpec: Sendable, Hashable, CustomStringConvertible {
    /// Calls per window.
    public var limit: Int
    /// The window, in milliseconds.
    public var windowMilliseconds: Int64
    /// Sliding (default) or fixed window.
    public var sliding: Bool

    /// The default: 10 submits per 60 s, sliding.
    public static let `default` = RateLimitSpec(limit: 10, windowMilliseconds: 60_000, sliding: true)

    /// A spec from its parts.
    public init(limit: Int, windowMilliseconds: Int64, sliding: Bool = true) {
        self.limit = limit; self.windowMilliseconds = windowMilliseconds; self.sliding = sliding
    }

    /// Parses `10/60s`, `sliding:10/1m`, `fixed:100/1h`; refuses anything else, naming the variable.
    public init(parsing text: String) throws(ServerConfigurationError) {
        func bad(_ why: String) -> ServerConfigurationError {
            .invalid(variable: "JOBLEDGER_RATE_LIMIT", reason: "\(why) (expected like 10/60s, sliding:10/1m or fixed:100/1h)")
        }
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var sliding = true
        if rest.hasPrefix("sliding:") { rest = rest.dropFirst(8) } else if rest.hasPrefix("fixed:") { sliding = false; rest = rest.dropFirst(6) }
        else if let colon = rest.firstIndex(of: ":") {
            throw bad("unknown window kind '\(rest[..<colon].prefix(40))': sliding or fixed")
        }
        let parts = rest.split(separator: "/")
        guard parts.count == 2 else { throw bad("expected a limit and a window separated by '/'") }
        guard let limit = Int(parts[0]), (1...1_000_000).contains(limit) else { throw bad("the limit must be a whole number 1…1000000") }
        let w = parts[1]
        let unit: (suffix: String, ms: Int64)? = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)].first { w.hasSuffix($0.0) }
        let digits = unit.map { w.dropLast($0.suffix.count) } ?? ""
        guard let unit, JobLedgerServer.isDigits(String(digits)) else {
            throw bad("the window must be a whole number with ms, s, m or h")
        }
        // `0s` is a number with a unit: it was said not to be. Too many digits for any window,
        // or a product past Int64 (which trapped), are out of range.
        let n = Int64(digits), product = n?.multipliedReportingOverflow(by: unit.ms)
        guard n != 0 else { throw bad("the window must be positive, 1 ms…24 h (got \(w))") }
        guard let product, !product.overflow, (1...86_400_000).contains(product.partialValue) else {
            throw bad("the window must be 1 ms…24 h (got \(w.prefix(40)))")
        }
        let ms = product.partialValue
        self.init(limit: limit, windowMilliseconds: ms, sliding: sliding)
    }

    /// The limiter algorithm (shared with `@upstash/ratelimit`).
    public var algorithm: RateLimitAlgorithm {
        sliding ? .slidingWindow(limit: limit, window: .milliseconds(windowMilliseconds))
            : .fixedWindow(limit: limit, window: .milliseconds(windowMilliseconds))
    }

    /// The spec as `JOBLEDGER_RATE_LIMIT` takes it: `sliding:10/60s`, `fixed:100/3600s` (`ms` when
    /// the window is not whole seconds).
    public var description: String {
        let w = windowMilliseconds % 1000 == 0 ? "\(windowMilliseconds / 1000)s" : "\(windowMilliseconds)ms"
        return "\(sliding ? "sliding" : "fixed"):\(limit)/\(w)"
    }
}
