import JobLedger

/// Thrown by `JobEngine.wait(for:timeout:pollInterval:)` (and its typed form) when the job has
/// not finished within the timeout, measured on the engine's clock. Only the wait ends: the job
/// goes on, and a later wait or `result(of:)` sees how it ends.
///
/// ```swift
/// do { _ = try await engine.wait(for: job, timeout: .seconds(30)) }
/// catch let late as WaitTimeout { print(late) }   // job 019…: still running after waiting 30.0 seconds
/// ```
public struct WaitTimeout: Error, Sendable, Hashable, CustomStringConvertible {
    /// The job waited for.
    public let job: JobID
    /// How long the wait lasted.
    public let timeout: Duration
    /// The job's status at the last look (queued or running).
    public let status: JobStatus

    /// A wait for `job` that gave up after `timeout`, with the job `status`.
    public init(job: JobID, timeout: Duration, status: JobStatus) {
        self.job = job; self.timeout = timeout; self.status = status
    }

    /// `job J: still <status> after waiting <timeout>`.
    public var description: String { "job \(job): still \(status) after waiting \(timeout)" }
}
