/// Where a job is in its life. `completed`, `failed` and `canceled` are terminal.
public enum JobStatus: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case queued, running, completed, failed, canceled

    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .completed, .failed, .canceled: true
        }
    }

    public var description: String { rawValue }
}

/// Everything known about one job, folded from its events. The log is the truth; this is
/// derived from it by `Lifecycle` and can always be rebuilt.
public struct JobState: Sendable, Hashable {
    public let id: JobID
    /// Number of events applied (the version of the last one).
    public internal(set) var version: Int
    public internal(set) var status: JobStatus
    public internal(set) var kind: String
    public internal(set) var input: JSONValue
    public internal(set) var priority: Int
    public internal(set) var maxAttempts: Int
    /// Attempts started so far (0 until the first `started`).
    public internal(set) var attempt: Int
    /// The job may not start before this time (its run-at, or the retry time after a failure).
    public internal(set) var runAt: Timestamp
    public internal(set) var worker: String?
    public internal(set) var leaseDeadline: Timestamp?
    /// Progress of the current attempt, 0…1.
    public internal(set) var progress: Double
    public internal(set) var progressMessage: String?
    public internal(set) var preview: AssetRef?
    public internal(set) var result: AssetRef?
    public internal(set) var output: JSONValue?
    public internal(set) var lastError: JobFailure?
    public internal(set) var cancelReason: String?
    public internal(set) var createdAt: Timestamp
    public internal(set) var updatedAt: Timestamp
    public internal(set) var startedAt: Timestamp?
    public internal(set) var finishedAt: Timestamp?
}
