import JobLedger

/// Why a running attempt is asked to stop (`JobContext.cancellation`): each is recorded
/// differently, so a handler that cleans up (or tells its own service) can say which.
public enum AttemptCancellation: Sendable, Equatable, CustomStringConvertible {
    /// The job was canceled through this engine (`JobEngine.cancel`, or an admin in a `serve`
    /// that runs the attempt): a `canceled` event ends it, with this reason. A cancel made
    /// through another engine or process (`jobledger cancel`, an API-only `serve`) reaches
    /// this one as `claimLost`, its reason saying the job was canceled.
    case canceled(reason: String)
    /// This attempt no longer holds the job (its lease ran out and it was requeued, or the job
    /// was finished elsewhere): nothing more of it is recorded.
    case claimLost(reason: String)
    /// It ran past its kind's `timeout`: recorded as a retryable `failed` (`timeout`).
    case timedOut
    /// The engine is stopping (`shutdown(drain:)` past its drain, `work()` cancelled, or a
    /// storage fault it gave up on): the attempt is given back (`worker_shutdown`).
    case shutdown

    /// `canceled: <reason>`, `claim lost: <reason>`, `timed out` or `shutdown`.
    public var description: String {
        switch self {
        case .canceled(let reason): "canceled: \(reason)"
        case .claimLost(let reason): "claim lost: \(reason)"
        case .timedOut: "timed out"
        case .shutdown: "shutdown"
        }
    }
}

extension JobEngine {
    /// Why `attempt` of `job` is asked to stop, in the order its end is decided (a lost claim
    /// before a cancel, a cancel before a timeout, a timeout before a shutdown); nil while it
    /// may go on. An attempt this engine no longer runs has lost its claim.
    func cancellation(of job: JobID, attempt: Int, taskCancelled: Bool) -> AttemptCancellation? {
        state.withLock { s in
            guard let running = s.running[job], running.attempt == attempt else {
                return .claimLost(reason: "attempt \(attempt) of job \(job) is no longer running in this engine")
            }
            if let lost = running.lost { return .claimLost(reason: lost) }
            if let reason = s.canceling[job] { return .canceled(reason: reason) }
            if running.timedOut { return .timedOut }
            if taskCancelled, s.draining || s.interrupting > 0 { return .shutdown }
            return nil
        }
    }
}
