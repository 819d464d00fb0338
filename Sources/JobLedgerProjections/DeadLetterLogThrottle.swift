import JobLedger

/// How often dead letters are logged: a projection's first at once, then at most one line a
/// minute, which counts the items dead-lettered since the last line. A log restored from an
/// export (its assets are not in it) made the first `serve` dead-letter every upload with an
/// error line of its own: 237,701 lines, 84 MB of stderr. The items themselves, their errors
/// and their counts (`projections status`, `/metrics`) are all kept as before.
struct DeadLetterLogThrottle: Sendable {
    static let intervalMilliseconds: Int64 = 60_000

    private var lastLine: [ProjectionName: Int64] = [:]
    private var unlogged: [ProjectionName: Int] = [:]

    /// `dead` items of `projection` were dead-lettered at `now` (milliseconds): whether to log a
    /// line, and how many were dead-lettered without one since the last (not counting these).
    mutating func dead(_ dead: Int, of projection: ProjectionName, at now: Int64) -> (log: Bool, since: Int) {
        if let last = lastLine[projection], now >= last, now - last < Self.intervalMilliseconds {
            unlogged[projection, default: 0] += dead
            return (false, 0)
        }
        lastLine[projection] = now
        return (true, unlogged.removeValue(forKey: projection) ?? 0)
    }
}
