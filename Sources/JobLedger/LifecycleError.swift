/// An event the lifecycle refuses. Names the job, the state it was in, the offending event and
/// the rule it breaks; nothing is written when an append is refused.
public struct LifecycleError: Error, Hashable, CustomStringConvertible {
    /// Which rule of the lifecycle the event breaks.
    public enum Rule: Hashable, Sendable {
        /// The job has no events yet; only `queued` can start one. With the event `queued`,
        /// which an append is never refused for this way (it is what starts a job), a job
        /// looked up by id that is not in the log: `LifecycleError.noSuchJob(_:)`.
        case unknownJob
        /// `queued` for a job that already exists.
        case jobExists
        /// The job is completed, failed or canceled and accepts nothing.
        case terminal
        /// The event needs a running job (progress, lowres, completed, failed).
        case notRunning
        /// `started` for a job that is already running.
        case alreadyRunning
        /// `started` must carry the next attempt number.
        case attemptMismatch(expected: Int, got: Int)
        /// An event written by an attempt (progress, lowres, completed, failed) whose attempt no
        /// longer holds the job: its lease expired and the job was requeued, started again, or
        /// finished. `current` is the attempt running now, nil when none is.
        case staleClaim(attempt: Int, current: Int?)
        /// `started` before the job's run-at or retry time.
        case tooEarly(notBefore: Timestamp, at: Timestamp)
        /// Progress outside 0…1, or not a number.
        case progressOutOfRange(Double)
        /// Progress lower than the attempt's previous progress.
        case progressBackwards(from: Double, to: Double)
        /// A requeue (`queued` on a failed job) must name the job's own kind.
        case kindMismatch(expected: String, got: String)
        /// A requeue of a job that has used the most attempts a job may have
        /// (`PayloadRules.attempts`, 1000): no further attempt could be recorded.
        case attemptsExhausted(attempts: Int)
    }

    /// The job the event was for.
    public let job: JobID
    /// The job's state before the event; nil when the job does not exist.
    public let state: JobStatus?
    /// The refused event's type.
    public let event: EventType
    /// Why it was refused.
    public let rule: Rule

    /// A refusal of `event` for `job` in `state`.
    public init(job: JobID, state: JobStatus?, event: EventType, rule: Rule) {
        self.job = job; self.state = state; self.event = event; self.rule = rule
    }

    /// A job looked up by id (to wait for it, to requeue it) that is not in the log: no event
    /// names it. Prints as `job <id> does not exist: no event in the log names it`, since the
    /// caller applied no event. (The event is `queued`, the one an append never refuses with
    /// `unknownJob`.)
    ///
    /// ```swift
    /// guard let s = try ledger.state(of: job) else { throw LedgerError.rejected(.noSuchJob(job)) }
    /// ```
    public static func noSuchJob(_ job: JobID) -> LifecycleError {
        LifecycleError(job: job, state: nil, event: .queued, rule: .unknownJob)
    }

    /// One line naming the job, its state, the event and why: `job job-1: cannot apply 'completed'
    /// to a queued job: 'completed' needs a running job (a 'started' event first)`. A job looked
    /// up that does not exist (`noSuchJob(_:)`): `job job-1 does not exist: no event in the log
    /// names it`.
    public var description: String {
        if self == .noSuchJob(job) { return "job \(job) does not exist: no event in the log names it" }
        let head = "job \(job): cannot apply '\(event)' to \(state.map { "a \($0) job" } ?? "a job that does not exist")"
        let why: String
        switch rule {
        case .unknownJob: why = "no such job; a job begins with a 'queued' event"
        case .jobExists: why = "the job already exists; 'queued' only begins a job"
        case .terminal: why = "the job is \(state?.rawValue ?? "finished") and accepts no more events"
        case .notRunning: why = "'\(event)' needs a running job (a 'started' event first)"
        case .alreadyRunning: why = "the job is already running; it must fail or finish before another attempt"
        case .attemptMismatch(let expected, let got): why = "attempt \(got) given, attempt \(expected) expected"
        case .staleClaim(let attempt, let current?):
            // Either way the job was started again, which is all the state tells.
            why = "attempt \(attempt) no longer holds the job, attempt \(current) does (attempt \(attempt) ended: its lease expired, or it failed and the job was retried); nothing more of attempt \(attempt) is recorded"
        case .staleClaim(let attempt, nil):
            why = "attempt \(attempt) no longer holds the job (its lease expired, or the job moved on); nothing more of attempt \(attempt) is recorded"
        case .tooEarly(let notBefore, let at): why = "the job may not start before \(notBefore.iso8601) (event at \(at.iso8601))"
        case .progressOutOfRange(let f): why = "progress must be within 0…1, got \(f)"
        case .progressBackwards(let from, let to): why = "progress may not go backwards within an attempt (\(from) → \(to))"
        case .kindMismatch(let expected, let got): why = "a requeue must keep the job's kind '\(expected)', not '\(got)'"
        case .attemptsExhausted(let attempts):
            why = "the job has had \(attempts) attempts, the most a job may have; submit it again as a new job"
        }
        return "\(head): \(why)"
    }
}
