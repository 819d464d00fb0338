import JobLedger

/// Whether a progress report is written now or merged into the next durable `progress` event,
/// so a handler that reports often does not flood the log (as Temporal throttles activity
/// heartbeats). Pure: the engine keeps the times and the merged report (`RunningAttempt`).
enum ProgressThrottle {
    /// What to do with one report.
    enum Decision: Equatable {
        /// Write it (with any merged report folded into it: the latest wins).
        case write
        /// Keep it as the attempt's merged report; the next durable event carries it.
        case merge
    }

    /// A report at `now` is written when the interval is 0, when the attempt has written no
    /// progress yet, when `intervalMilliseconds` have passed since its last durable one, or when
    /// the clock reads earlier than that one (it was stepped back: counting the interval from a
    /// time the clock has not reached again would merge every report, and so stop the
    /// heartbeat that renews the lease, for as long as the step); otherwise it is merged.
    static func decide(intervalMilliseconds: Int64, lastDurable: Timestamp?, now: Timestamp) -> Decision {
        guard intervalMilliseconds > 0, let last = lastDurable else { return .write }
        let elapsed = now.milliseconds - last.milliseconds
        return elapsed >= intervalMilliseconds || elapsed < 0 ? .write : .merge
    }
}
