import JobLedger

/// Thrown to a handler (from `JobContext.progress` or `lowres`) when its attempt no longer holds
/// the job: its lease expired and another attempt took over, or the job was finished or
/// canceled elsewhere. The handler should stop; the engine cancels its task and records nothing
/// more for this attempt.
public struct ClaimLost: Error, Sendable, Hashable, CustomStringConvertible {
    public let job: JobID
    public let attempt: Int
    /// What the log said when it refused the attempt's event.
    public let reason: String

    public var description: String { "job \(job): attempt \(attempt) lost its claim: \(reason)" }
}
