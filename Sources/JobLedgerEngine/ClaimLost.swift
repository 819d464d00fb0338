import JobLedger

/// Thrown to a handler (from `JobContext.progress` or `lowres`) when its attempt no longer holds
/// the job: its lease expired and another attempt took over, or the job was finished or
/// canceled elsewhere. The handler should stop; the engine cancels its task and records nothing
/// more for this attempt.
public struct ClaimLost: Error, Sendable, Hashable, CustomStringConvertible {
    /// The job.
    public let job: JobID
    /// The attempt that lost its claim.
    public let attempt: Int
    /// What the log said when it refused the attempt's event.
    public let reason: String

    /// `job J: attempt N lost its claim: <what the log said>`.
    public var description: String { "job \(job): attempt \(attempt) lost its claim: \(reason)" }
}
