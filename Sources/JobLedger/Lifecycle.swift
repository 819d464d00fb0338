/// The built-in image-job lifecycle, as a pure state machine:
///
/// ```
/// queued ──started──> running ──progress*/lowres──> running ──completed──> completed
///   │                   │                                   └──failed(final)──> failed
///   │                   └─failed(retryable, attempts left)──> queued (not before retry time)
///   │                      (an attempt cut short by its worker's shutdown is given back)
///   └──canceled──> canceled          running ──canceled──> canceled
/// ```
///
/// Terminal states accept nothing, with one exception: a `queued` event on a failed job of the
/// same kind requeues it (the dead-letter retry), with that many more attempts.
///
/// **Fencing**: progress, lowres, completed and failed name the attempt that writes them (its
/// claim), and are refused with `staleClaim` unless that attempt is the one running now. A
/// worker that comes back after its lease expired can therefore never write into the attempt
/// that replaced it: its work may be done twice, its recorded outcome never is.
///
/// Every decision is an exhaustive `switch` over (state, event),
/// so adding a state or an event type does not compile until every case is decided.
public enum Lifecycle {
    /// Begins a job from its first event, which must be `queued`; any other event is refused
    /// with `unknownJob`.
    ///
    /// ```swift
    /// let job = try JobID("job-1")
    /// let s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design")), at: .now)
    /// // s.status == .queued, s.version == 1
    /// ```
    public static func begin(job: JobID, with payload: EventPayload, at time: Timestamp) throws(LifecycleError) -> JobState {
        switch payload {
        case .queued(let q):
            return JobState(
                id: job, version: 1, status: .queued, kind: q.kind, input: q.input, priority: q.priority,
                maxAttempts: q.maxAttempts, attempt: 0, runAt: q.runAt ?? time, worker: nil, leaseDeadline: nil,
                progress: 0, progressMessage: nil, preview: nil, result: nil, output: nil, lastError: nil,
                cancelReason: nil, createdAt: time, updatedAt: time, startedAt: nil, finishedAt: nil, owner: q.recordedOwner)
        case .started, .progress, .lowres, .completed, .failed, .canceled:
            throw LifecycleError(job: job, state: nil, event: payload.type, rule: .unknownJob)
        }
    }

    /// Applies one event to a job and returns its new state; `state` nil means the job does not
    /// exist yet (only `queued` begins one). The functional form of `JobState.apply(_:at:)`.
    ///
    /// ```swift
    /// var s: JobState? = nil
    /// for e in events { s = try Lifecycle.apply(e.payload, to: s, job: e.job, at: e.recordedAt) }
    /// ```
    public static func apply(_ payload: EventPayload, to state: JobState?, job: JobID, at time: Timestamp) throws(LifecycleError) -> JobState {
        guard var s = state else { return try begin(job: job, with: payload, at: time) }
        try s.apply(payload, at: time)
        return s
    }

    /// The rule a progress report of `fraction` breaks when the attempt's progress so far is
    /// `previous`, or nil when the log accepts it: outside 0…1 or not a number
    /// (`progressOutOfRange`), or lower than `previous` (`progressBackwards`). What `apply`
    /// checks; the engine checks a handler's report with it when the handler makes it.
    ///
    /// ```swift
    /// Lifecycle.progressRefusal(.nan, after: 0)    // .progressOutOfRange(nan)
    /// Lifecycle.progressRefusal(0.3, after: 0.5)   // .progressBackwards(from: 0.5, to: 0.3)
    /// Lifecycle.progressRefusal(0.7, after: 0.5)   // nil
    /// ```
    public static func progressRefusal(_ fraction: Double, after previous: Double) -> LifecycleError.Rule? {
        guard fraction.isFinite, (0...1).contains(fraction) else { return .progressOutOfRange(fraction) }
        guard fraction >= previous else { return .progressBackwards(from: previous, to: fraction) }
        return nil
    }
}

extension JobState {
    /// Applies one event in place, or throws and leaves the state untouched: every case checks
    /// all its rules before it changes anything. What the event did is read from the new state
    /// (its `status`, `attempt`, `runAt`, `leaseDeadline`, `progress` …).
    ///
    /// ```swift
    /// var s = try Lifecycle.begin(job: job, with: .queued(.init(kind: "design")), at: t0)
    /// try s.apply(.started(.init(worker: "w1", attempt: 1, leaseDeadline: t1)), at: t0)
    /// // s.status == .running, s.attempt == 1
    /// ```
    public mutating func apply(_ payload: EventPayload, at time: Timestamp) throws(LifecycleError) {
        func refuse(_ rule: LifecycleError.Rule) -> LifecycleError {
            LifecycleError(job: id, state: status, event: payload.type, rule: rule)
        }
        // Fencing: an event that names its attempt is accepted only while that attempt holds
        // the job (running, same attempt). Events recorded before fencing name none.
        if let claim = payload.claim, !(status == .running && claim == attempt) {
            switch status {
            case .completed, .failed, .canceled:
                // The attempt that finished it, or one that never started: the job is just over.
                throw refuse(claim >= attempt ? .terminal : .staleClaim(attempt: claim, current: nil))
            case .queued:
                // An attempt that has not started yet cannot write; an earlier one has ended.
                throw refuse(claim > attempt ? .notRunning : .staleClaim(attempt: claim, current: nil))
            case .running:
                throw refuse(claim > attempt ? .attemptMismatch(expected: attempt, got: claim) : .staleClaim(attempt: claim, current: attempt))
            }
        }
        switch (status, payload) {
        case (.failed, .queued(let q)):
            // Dead-letter requeue: a failed job goes back to the queue with `maxAttempts` more
            // attempts; its history (attempt count, last error) is kept.
            guard q.kind == kind else { throw refuse(.kindMismatch(expected: kind, got: q.kind)) }
            // Attempt numbers are capped (`PayloadRules.attempts`): a job that has used them all
            // could never start again, so it is not requeued to sit in the queue for ever; one
            // near the cap gets the attempts that are left.
            guard attempt < PayloadRules.attempts.upperBound else { throw refuse(.attemptsExhausted(attempts: attempt)) }
            status = .queued
            input = q.input
            priority = q.priority
            maxAttempts = min(attempt + q.maxAttempts, PayloadRules.attempts.upperBound)
            runAt = q.runAt ?? time
            if let o = q.recordedOwner { owner = o }
            progress = 0
            progressMessage = nil
            finishedAt = nil

        // Finished jobs, written out pair by pair: a new event type does not compile until it
        // is decided what it means for a completed, a failed and a canceled job.
        case (.completed, .queued), (.completed, .started), (.completed, .progress), (.completed, .lowres),
             (.completed, .completed), (.completed, .failed), (.completed, .canceled):
            throw refuse(.terminal)
        case (.failed, .started), (.failed, .progress), (.failed, .lowres),
             (.failed, .completed), (.failed, .failed), (.failed, .canceled):
            throw refuse(.terminal)
        case (.canceled, .queued), (.canceled, .started), (.canceled, .progress), (.canceled, .lowres),
             (.canceled, .completed), (.canceled, .failed), (.canceled, .canceled):
            throw refuse(.terminal)

        case (.queued, .queued), (.running, .queued):
            throw refuse(.jobExists)

        case (.queued, .started(let s)):
            guard s.attempt == attempt + 1 else { throw refuse(.attemptMismatch(expected: attempt + 1, got: s.attempt)) }
            guard time >= runAt else { throw refuse(.tooEarly(notBefore: runAt, at: time)) }
            status = .running
            attempt = s.attempt
            worker = s.worker
            leaseDeadline = s.leaseDeadline
            progress = 0
            progressMessage = nil
            if startedAt == nil { startedAt = time }

        case (.running, .started):
            throw refuse(.alreadyRunning)

        case (.queued, .progress), (.queued, .lowres), (.queued, .completed), (.queued, .failed):
            throw refuse(.notRunning)

        case (.queued, .canceled(let c)), (.running, .canceled(let c)):
            status = .canceled
            cancelReason = c.reason
            leaseDeadline = nil
            finishedAt = time

        case (.running, .progress(let p)):
            if let rule = Lifecycle.progressRefusal(p.fraction, after: progress) { throw refuse(rule) }
            progress = p.fraction
            if let m = p.message { progressMessage = m }
            if let l = p.leaseDeadline { leaseDeadline = l }

        case (.running, .lowres(let l)):
            preview = l.asset

        case (.running, .completed(let c)):
            status = .completed
            progress = 1
            result = c.asset
            output = c.output
            leaseDeadline = nil
            finishedAt = time

        case (.running, .failed(let f)):
            lastError = JobFailure(code: f.code, message: f.message, retryable: f.retryable, attempt: f.attempt)
            worker = nil
            leaseDeadline = nil
            // An attempt its worker's shutdown cut short is given back (see `refundsAttempt`),
            // up to the cap on attempts, past which no attempt could start.
            if f.refundsAttempt && maxAttempts < PayloadRules.attempts.upperBound { maxAttempts += 1 }
            if f.retryable && attempt < maxAttempts {
                // Back in the queue for its next attempt: no attempt runs, so none has made
                // progress yet. The failed attempt's figures stay in its own events (`history`).
                status = .queued
                runAt = max(f.retryAt ?? time, time)
                progress = 0
                progressMessage = nil
            } else {
                // Failed for good: it keeps the figures it failed at (a requeue resets them).
                status = .failed
                finishedAt = time
            }
        }
        version += 1
        updatedAt = time
    }
}
