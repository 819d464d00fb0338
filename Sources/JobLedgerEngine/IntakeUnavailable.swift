/// Thrown by `workUntilIdle(feedingFrom:…)` when the intake could not be read for longer than
/// its `giveUpAfter`: a run meant to end does not wait for ever for a queue that went down
/// (`work` without `untilIdle` keeps trying, backing off). The requests stay in the intake;
/// the jobs already taken in are in the log, and those that were running were drained.
public struct IntakeUnavailable: Error, Sendable, CustomStringConvertible {
    /// How long pulls had been failing.
    public var duration: Duration
    /// The last pull's error, as text.
    public var lastError: String

    public init(duration: Duration, lastError: String) {
        self.duration = duration; self.lastError = lastError
    }

    public var description: String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return "the intake could not be read for \(Int(seconds.rounded())) s: \(lastError)"
    }
}
