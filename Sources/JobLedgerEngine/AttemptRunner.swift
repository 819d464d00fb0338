import Foundation
import JobLedger
import JobLedgerSQLite

/// Running one attempt: the handler, then its outcome recorded exactly once. Recording runs
/// outside the attempt's task, so cancelling the handler (a `cancel`, shutdown past the drain
/// time) never stops the outcome from being written; a transient storage error is retried with
/// backoff until the attempt's lease runs out; only a lost claim ends it unrecorded.
extension JobEngine {
    func runAttempt(_ context: JobContext, registration: Registration) async {
        let began = clock.now()
        defer { time("run_time", kind: context.kind, milliseconds: clock.now().milliseconds - began.milliseconds) }
        let watchdog = registration.timeout.map { t in Task { await self.watchTimeout(context, registration: registration, from: began, timeout: t) } }
        let result: Result<JobCompletion, any Error>
        do { result = .success(try await registration.handler(context)) } catch { result = .failure(error) }
        // From here the timeout no longer applies: what the handler returned is what is recorded.
        let cancelWatch = state.withLock { s -> Task<Void, Never>? in
            s.running[context.job]?.returned = true
            return s.running[context.job]?.cancelWatch
        }
        watchdog?.cancel()
        cancelWatch?.cancel()
        // A merged report's timer is done: `completed` writes the report itself.
        await state.withLock { $0.running[context.job]?.stopProgressTimer() }?.value
        let outcome = decide(context, result, registration: registration)
        await record(outcome, context, registration: registration)
        state.withLock { s in
            s.running[context.job] = nil
            s.canceling[context.job] = nil
        }
        slotFreed.signal()
    }

    /// What the attempt's end means, decided once under the lock (after which the lost-claim
    /// check leaves the attempt alone while it records).
    private func decide(_ context: JobContext, _ result: Result<JobCompletion, any Error>, registration: Registration) -> AttemptOutcome {
        let cancelled = Task.isCancelled
        return state.withLock { s -> AttemptOutcome in
            if let lost = s.running[context.job]?.lost { return .lostClaim(lost) }
            if case .failure(let e) = result, let lost = e as? ClaimLost {
                s.running[context.job]?.lost = lost.reason
                return .lostClaim(lost.reason)
            }
            s.running[context.job]?.recording = true
            if let reason = s.canceling[context.job] { return .canceled(reason: reason) }
            switch result {
            case .success(let completion):
                return .completed(completion)
            case .failure where s.running[context.job]?.timedOut == true:
                return .failed(Self.timeoutError(registration.timeout))
            case .failure where (s.draining || s.interrupting > 0) && cancelled:
                return .interrupted
            case .failure(let error):
                return .failed(error as? JobError ?? JobError(code: "handler_error", message: String(describing: error), retryable: true))
            }
        }
    }

    func record(_ outcome: AttemptOutcome, _ context: JobContext, registration: Registration) async {
        let job = context.job, attempt = context.attempt
        switch outcome {
        case .lostClaim:
            return  // said once, when the claim was found lost
        case .canceled(let reason):
            let payload = EventPayload.canceled(.init(reason: reason))
            if case .recorded = await persist(context, "canceled", { try await self.ledger.append(NewEvent(job: job, payload: payload)) }) {
                log(job, .info, "canceled while running")
            }
        case .interrupted:
            // The attempt is given back, except on a log at an older schema (see
            // `Ledger.recordsAttemptRefunds`), where the shutdown counts as an attempt.
            let refunds = ledger.recordsAttemptRefunds
            let payload = EventPayload.failed(.init(
                code: "worker_shutdown", message: "worker \(options.workerID) shut down before the attempt finished",
                retryable: true, attempt: attempt, retryAt: clock.now(), refundsAttempt: refunds))
            if case .recorded = await persist(context, "worker_shutdown", { try await self.ledger.append(NewEvent(job: job, payload: payload)) }) {
                let requeued = refunds || attempt < context.maxAttempts  // the lifecycle's rule
                count(requeued ? "retried" : "failed", kind: context.kind)
                log(job, .notice, "interrupted by shutdown; \(refunds ? "requeued, the attempt given back" : requeued ? "requeued" : "no attempts left: failed")",
                    metadata: ["attempt": "\(attempt)"])
            }
        case .completed(let completion):
            await flushProgress(context)
            let recorded = await persist(context, "completed") {
                var asset: AssetRef?
                if let bytes = completion.bytes { asset = try await self.ledger.stageAsset(bytes, contentType: completion.contentType) }
                return try await self.ledger.append(NewEvent(job: job, payload: .completed(.init(
                    asset: asset, output: completion.output, attempt: attempt))))
            }
            switch recorded {
            case .recorded:
                count("completed", kind: context.kind)
                log(job, .info, "completed", metadata: ["attempt": "\(attempt)"])
            case .invalid(let error):
                // The result itself cannot be recorded (output over the payload limit, a bad
                // content type): the attempt fails for good, saying why.
                await record(.failed(JobError(code: "invalid_result", message: "the handler's result could not be recorded: \(error)",
                                              retryable: false)), context, registration: registration)
            case .refused, .gaveUp:
                break
            }
        case .failed(let e):
            let delay = state.withLock { registration.retry.delay(afterAttempt: attempt, using: &$0.random) }
            let payload = EventPayload.failed(.init(
                code: e.code, message: String(e.message.prefix(JobEngine.maxFailureMessage)), retryable: e.retryable,
                attempt: attempt, retryAt: clock.now().adding(milliseconds: delay)))
            switch await persist(context, "failed", { try await self.ledger.append(NewEvent(job: job, payload: payload)) }) {
            case .recorded:
                let requeued = e.retryable && attempt < context.maxAttempts  // the lifecycle's rule
                count(requeued ? "retried" : "failed", kind: context.kind)
                log(job, requeued ? .info : .warning, "attempt failed\(requeued ? "; will retry" : " for good")",
                metadata: ["attempt": "\(attempt)", "code": "\(e.code)", "error": "\(e.message.prefix(500))"])
            case .invalid(let error) where e.code != Self.unrecordableErrorCode:
                // The error itself cannot be recorded (a code that is not 1…200 bytes, a message
                // over the payload limit): record what can be said of it, as retryable as it was,
                // rather than leave the job `running` until a sweep calls it `lease_expired`.
                await record(.failed(Self.unrecordableError(e, error)), context, registration: registration)
            case .invalid(let error):
                log(job, .error, "could not record the attempt's failure at all: \(error); the job will be retried once its lease is swept",
                    metadata: ["attempt": "\(attempt)"])
            case .refused, .gaveUp:
                break
            }
        }
    }

    /// The longest failure message recorded (a handler's error description can be anything).
    static let maxFailureMessage = 4000

    /// The code recorded for a handler's error the log refused as it was thrown.
    static let unrecordableErrorCode = "invalid_error"

    /// What is recorded for `thrown` when the log refused its `failed` event (`refusal`): its
    /// code and the start of its message, quoted in a message of bounded size (in Unicode
    /// scalars, so in bytes: a character can be any number of them).
    static func unrecordableError(_ thrown: JobError, _ refusal: LedgerError) -> JobError {
        func start(_ s: String, _ scalars: Int) -> String {
            s.unicodeScalars.count <= scalars ? s : String(String.UnicodeScalarView(s.unicodeScalars.prefix(scalars))) + "…"
        }
        return JobError(code: unrecordableErrorCode,
                        message: "the handler's error could not be recorded as thrown (\(start("\(refusal)", 300))); it was code '\(start(thrown.code, 100))': \(start(thrown.message, 500))",
                        retryable: thrown.retryable)
    }

    enum Persisted {
        case recorded
        /// The log refused it: the attempt lost its claim, or the job moved on.
        case refused(LedgerError)
        /// The event itself is invalid (too large, malformed): retrying cannot help.
        case invalid(LedgerError)
        /// Storage kept failing until the attempt's lease ran out.
        case gaveUp(any Error)
    }

    /// How often an outcome waiting out a storage fault is tried while a shutdown drains.
    static let drainRetry = Duration.milliseconds(250)

    /// Writes an outcome outside the caller's task (which may be cancelled). A transient error
    /// (busy) is retried with backoff until the attempt's lease has run out; a storage fault
    /// (a full disk, an I/O error) for as long as it lasts, on the engine's shared backoff,
    /// unless the engine stops waiting for storage (shutdown past its drain time, or
    /// `giveUpAfter`). A refusal by the log ends it at once.
    func persist(_ context: JobContext, _ what: String, _ write: @escaping @Sendable () async throws -> StoredEvent) async -> Persisted {
        let job = context.job, attempt = context.attempt
        // The common case first, on this task: not cancelled, storage not paused, and the write
        // succeeds. Anything else (an error of any kind, a cancellation that may stop a wait)
        // goes to the loop below, in a task of its own that nothing cancels; a write refused
        // here is simply refused again there and classified.
        if !Task.isCancelled, storage.current == nil, let stored = try? await write() {
            folded(stored)
            storage.succeeded()
            return .recorded
        }
        let result: Persisted = await Task {
            var delay: Int64 = 20
            var warned = false
            while true {
                if let (fault, _) = self.storage.current, !self.storage.mayTry() {
                    // Paused: every writer waits for the same next try; during a shutdown's
                    // drain, a try every `drainRetry` (the drain is short, the backoff long).
                    let (abandoning, draining) = self.state.withLock { ($0.abandoning, $0.draining) }
                    if abandoning { return .gaveUp(LedgerError.storageFault(fault)) }
                    await self.storage.waitForNextTry(limit: draining ? Self.drainRetry : nil)
                    // Past the drain time, given up on (no write after the shutdown has said so).
                    let (gaveUp, drainingNow) = self.state.withLock { ($0.abandoning, $0.draining) }
                    if gaveUp { return .gaveUp(LedgerError.storageFault(fault)) }
                    if !drainingNow { continue }
                }
                do {
                    self.folded(try await write())
                    self.storage.succeeded()
                    if warned { self.log(job).notice("\(what) of attempt \(attempt) recorded after retrying") }
                    return .recorded
                } catch let e as LedgerError where e.isLostRace {
                    return .refused(e)
                } catch let e as LedgerError where e.isInvalidInput {
                    return .invalid(e)
                } catch where self.noteStorageFault(error, during: "recording \(what) for job \(job)") {
                    if self.state.withLock({ $0.abandoning }) { return .gaveUp(error) }
                } catch {
                    let deadline = self.state.withLock { $0.running[job]?.leaseDeadline } ?? self.clock.now()
                    if self.clock.now() >= deadline {
                        return .gaveUp(error)
                    }
                    if !warned {
                        self.log(job).warning("could not record \(what) of attempt \(attempt) yet, retrying until its lease runs out (\(deadline.iso8601)): \(error)")
                        warned = true
                    }
                    try? await Task.sleep(for: .milliseconds(delay))
                    delay = min(delay * 2, 1000)
                }
            }
        }.value
        switch result {
        case .recorded, .invalid:
            break
        case .refused(let e):
            log(job).warning("attempt \(attempt) lost its claim; its \(what) is not recorded: \(e)", metadata: ["attempt": "\(attempt)"])
            count("claims_lost", kind: context.kind)
        case .gaveUp where state.withLock({ $0.abandoning }):
            // Said once for all of them, by the shutdown or the give-up that left them.
            state.withLock { $0.unrecorded.append("job \(job) attempt \(attempt) (\(what))") }
        case .gaveUp(let e):
            log(job).error("gave up recording \(what) of attempt \(attempt): the lease ran out while storage kept failing (\(e)); the job will be retried once its lease is swept",
                           metadata: ["attempt": "\(attempt)"])
        }
        return result
    }

    /// Records progress for a running attempt (its heartbeat, extending the lease). Inside
    /// `Options.progressIntervalMilliseconds` of the attempt's last durable `progress` event,
    /// the report is merged instead (the latest wins): it extends the lease the engine holds at
    /// once, and the log's with the next durable event, which carries it, or before the
    /// attempt's `completed` (`flushProgress`). A report the log would refuse is refused at
    /// once, merged or not, with the log's error (`checkProgress`), and changes nothing. A
    /// refusal because the attempt lost its claim cancels the handler and throws `ClaimLost`; a
    /// transient storage error is logged and skipped (the next report tries again).
    func recordProgress(job: JobID, attempt: Int, fraction: Double, message: String?) async throws {
        try checkClaim(job: job, attempt: attempt)
        let now = clock.now()
        let lease = now.adding(milliseconds: options.leaseMilliseconds)
        let interval = options.progressIntervalMilliseconds
        try checkProgressSize(job: job, attempt: attempt, fraction: fraction, message: message, lease: lease)
        let (decision, timer) = try state.withLock { s throws(LedgerError) -> (ProgressThrottle.Decision, Task<Void, Never>?) in
            guard let r = s.running[job], r.attempt == attempt else { return (.write, nil) }
            try checkProgress(job: job, fraction: fraction, after: r.reportedProgress)
            s.running[job]!.reportedProgress = fraction
            let d = ProgressThrottle.decide(intervalMilliseconds: interval, lastDurable: r.lastDurableProgress, now: now)
            s.running[job]!.leaseDeadline = max(r.leaseDeadline, lease)
            switch d {
            case .write:
                s.running[job]!.pendingProgress = nil
                return (.write, s.running[job]!.stopProgressTimer())
            case .merge:
                s.running[job]!.pendingProgress = PendingProgress(fraction: fraction, message: message)
                if r.progressTimer == nil, let last = r.lastDurableProgress {
                    startProgressTimer(&s.running[job]!, job: job, due: last.adding(milliseconds: interval))
                }
                return (.merge, nil)
            }
        }
        switch decision {
        case .merge:
            return
        case .write:
            await timer?.value  // a merged report it is writing lands first
            try await writeProgress(job: job, attempt: attempt, fraction: fraction, message: message, at: now)
        }
    }

    /// Writes the report merged since the attempt's last durable `progress`, if any: the last
    /// report before `completed` is always in the log.
    func flushProgress(_ context: JobContext) async {
        let pending = state.withLock { s -> PendingProgress? in
            guard s.running[context.job]?.attempt == context.attempt else { return nil }
            defer { s.running[context.job]!.pendingProgress = nil }
            return s.running[context.job]!.pendingProgress
        }
        guard let pending else { return }
        let lease = clock.now().adding(milliseconds: options.leaseMilliseconds)
        let payload = EventPayload.progress(.init(fraction: pending.fraction, message: pending.message, leaseDeadline: lease, attempt: context.attempt))
        _ = await persist(context, "progress") { try await self.ledger.append(NewEvent(job: context.job, payload: payload)) }
    }

    /// One durable `progress` event with a new lease.
    func writeProgress(job: JobID, attempt: Int, fraction: Double, message: String?, at now: Timestamp) async throws {
        // During a storage fault a heartbeat is written only when a try is due; the report
        // after it tries again.
        guard storage.mayTry() else { return }
        let lease = now.adding(milliseconds: options.leaseMilliseconds)
        let event = NewEvent(job: job, payload: .progress(.init(fraction: fraction, message: message, leaseDeadline: lease, attempt: attempt)))
        let appended: Result<StoredEvent, LedgerError>
        do { appended = .success(try await ledger.append(event)) } catch { appended = .failure(error) }
        switch appended {
        case .success(let stored):
            folded(stored)
            storage.succeeded()
            state.withLock { s in
                if s.running[job]?.attempt == attempt { s.running[job]!.lastDurableProgress = now }
            }
        case .failure(let e):
            try lostClaimOrRethrow(e, job: job, attempt: attempt)
            if e.isInvalidInput || e.isLostRace { throw e }
            if noteStorageFault(e, during: "recording progress of job \(job)") { return }
            // A write that waited for the log's lock gives up when the attempt is cancelled
            // (a cancel, a timeout, a shutdown past its drain): no storage error, and no later
            // report of this attempt to try again. The attempt's outcome is recorded as usual.
            if Task.isCancelled {
                log(job).notice("progress not recorded: the attempt was cancelled while the report waited for the log", metadata: ["attempt": "\(attempt)"])
                return
            }
            log(job).warning("progress not recorded (storage): \(e); the next report tries again", metadata: ["attempt": "\(attempt)"])
        }
    }

    /// Stages a preview and records `lowres`, retrying storage errors like an outcome.
    func recordPreview(job: JobID, attempt: Int, kind: String, maxAttempts: Int, bytes: Data, contentType: String) async throws {
        try checkClaim(job: job, attempt: attempt)
        let context = JobContext(job: job, kind: kind, input: .null, attempt: attempt, maxAttempts: maxAttempts, engine: self)
        let ledger = self.ledger
        switch await persist(context, "lowres", {
            let asset = try await ledger.stageAsset(bytes, contentType: contentType)
            return try await ledger.append(NewEvent(job: job, payload: .lowres(.init(asset: asset, attempt: attempt))))
        }) {
        case .recorded: return
        case .refused(let e): try lostClaimOrRethrow(e, job: job, attempt: attempt); throw e
        case .invalid(let e): throw e
        case .gaveUp(let e):
            // The lease ran out (or the engine gave up) while the log could not be written: for
            // the log the attempt is over, and the lease sweep requeues the job. The handler
            // learns it as a lost claim, and nothing more of the attempt is recorded. The error
            // itself went back to the handler, which rethrew it, and the attempt was recorded
            // `failed` as a `handler_error`, its storage trouble charged to the handler and to
            // the job's attempts.
            let reason = "its lease ran out while its preview could not be recorded (\(e))"
            state.withLock { s in
                if s.running[job]?.attempt == attempt, s.running[job]?.lost == nil { s.running[job]!.lost = reason }
            }
            throw ClaimLost(job: job, attempt: attempt, reason: reason)
        }
    }

    /// Throws `ClaimLost` when the attempt is already known to have lost its claim.
    private func checkClaim(job: JobID, attempt: Int) throws {
        if let reason = state.withLock({ s in s.running[job].flatMap { $0.attempt == attempt ? $0.lost : nil } }) {
            throw ClaimLost(job: job, attempt: attempt, reason: reason)
        }
    }

    /// Turns a refusal that means "this attempt no longer holds the job" into `ClaimLost`
    /// (cancelling the handler); returns for any other error.
    private func lostClaimOrRethrow(_ e: LedgerError, job: JobID, attempt: Int) throws {
        guard case .rejected(let refusal) = e else { return }
        switch refusal.rule {
        case .staleClaim, .terminal, .unknownJob, .notRunning:
            claimLost(job: job, attempt: attempt, reason: refusal.description)
            throw ClaimLost(job: job, attempt: attempt, reason: refusal.description)
        case .jobExists, .alreadyRunning, .attemptMismatch, .tooEarly, .progressOutOfRange, .progressBackwards, .kindMismatch, .attemptsExhausted:
            return
        }
    }
}

extension LedgerError {
    /// The event itself is wrong; retrying the same write cannot succeed.
    var isInvalidInput: Bool {
        switch self {
        // (An invalid configuration is refused at opening, never by a write; were it, retrying
        // could not help either.)
        case .invalidPayload, .invalidJobID, .payloadTooLarge, .unknownAsset, .invalidConfiguration: true
        case .rejected, .concurrencyConflict, .noSuchLog, .notALedger, .newerSchema, .busy, .importFailed,
             .projectionTakenOver, .projectionFailed, .missingProjectionTable, .storage, .storageFault, .readOnly, .writtenWhileReadWithoutLocks, .closed: false
        }
    }
}
