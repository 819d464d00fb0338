import JobLedger

/// How one attempt ended, as the engine records it.
enum AttemptOutcome {
    /// The handler returned a result: recorded as `completed` (its bytes staged first).
    case completed(JobCompletion)
    /// The handler threw: recorded as `failed`, retryable or not as the error says.
    case failed(JobError)
    /// The job was canceled while this attempt ran: recorded as `canceled`.
    case canceled(reason: String)
    /// Shutdown cut the handler off after the drain time: recorded as a retryable
    /// `worker_shutdown` failure, so another worker runs the job again.
    case interrupted
    /// The attempt no longer holds the job: nothing is recorded.
    case lostClaim(String)
}
