/// Where a job is in its life. `completed`, `failed` and `canceled` are terminal.
public enum JobStatus: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    /// `queued`: waiting (maybe until `runAt`); `running`: an attempt holds it; the others are final.
    case queued, running, completed, failed, canceled

    /// True for `completed`, `failed` and `canceled`: the job accepts no more events (a failed job can
    /// only be requeued).
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .completed, .failed, .canceled: true
        }
    }

    /// The name used in the log and the CLI (`running`).
    public var description: String { rawValue }
}

/// Everything known about one job, folded from its events. The log is the truth; this is
/// derived from it by `Lifecycle` and can always be rebuilt. Read it with
/// `JobEngine.state(of:)`, `result(of:)`, `wait(for:)` or `Ledger.state(of:)`; only the lifecycle
/// changes it.
///
/// ```swift
/// if let s = try engine.state(of: job) {
///     print(s.status, "attempt \(s.attempt)/\(s.maxAttempts)", "\(Int(s.progress * 100))%")
///     if let error = s.lastError { print("last failure:", error) }
/// }
/// ```
public struct JobState: Sendable, Hashable {
    /// The job.
    public let id: JobID
    /// Number of events applied (the version of the last one).
    public internal(set) var version: Int
    /// Where the job is in its life.
    public internal(set) var status: JobStatus
    /// Which handler runs it (`EventPayload.Queued.kind`).
    public internal(set) var kind: String
    /// What its handler is given.
    public internal(set) var input: JSONValue
    /// Higher runs first, then oldest.
    public internal(set) var priority: Int
    /// The attempt after which a failure is final (grows when a failed job is requeued).
    public internal(set) var maxAttempts: Int
    /// Attempts started so far (0 until the first `started`).
    public internal(set) var attempt: Int
    /// The job may not start before this time (its run-at, or the retry time after a failure).
    public internal(set) var runAt: Timestamp
    /// The engine running the current attempt; nil when none is.
    public internal(set) var worker: String?
    /// When the running attempt's claim runs out unless renewed by progress; nil when not running.
    public internal(set) var leaseDeadline: Timestamp?
    /// Progress of the current attempt, 0…1: 0 while queued (also when queued again for a
    /// retry), the last figure of its last attempt once it failed for good.
    public internal(set) var progress: Double
    /// The latest progress note of the current attempt (nil while queued, as `progress` is 0).
    public internal(set) var progressMessage: String?
    /// The latest preview staged (`lowres`); read its bytes with `Ledger.assetBytes(_:)`.
    public internal(set) var preview: AssetRef?
    /// The result bytes of a completed job, if it produced any.
    public internal(set) var result: AssetRef?
    /// The output JSON of a completed job, if any (for a typed job: `JobEngine.output(of:as:)`).
    public internal(set) var output: JSONValue?
    /// The latest failure, kept after a retry starts (a failed job's is the reason it failed).
    public internal(set) var lastError: JobFailure?
    /// Why it was canceled, once it was.
    public internal(set) var cancelReason: String?
    /// When it was queued (its first event).
    public internal(set) var createdAt: Timestamp
    /// When its latest event was recorded.
    public internal(set) var updatedAt: Timestamp
    /// When its first attempt started; nil until then.
    public internal(set) var startedAt: Timestamp?
    /// When it completed, failed for good or was canceled; nil while it is not finished.
    public internal(set) var finishedAt: Timestamp?
    /// Who it belongs to (`EventPayload.Queued.owner`): set by its `queued` event, kept by a
    /// requeue that names nobody. Nil: nobody in particular.
    public internal(set) var owner: String?
}
