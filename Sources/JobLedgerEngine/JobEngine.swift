import Foundation
import JobLedger
import JobLedgerSQLite
import Synchronization

/// The job engine to embed in a Swift service: register a handler per job kind, submit jobs,
/// and the engine claims them (priority, then age), runs handlers, records progress, retries
/// failures with backoff and requeues jobs whose worker died. Every step is an event in the
/// ledger; the engine's view of the queue is folded from the log, so several engines (in one
/// process or several) can share one log file and never run the same attempt twice: a claim
/// is a `started` event appended with the job's version as the expected version.
///
/// Three ways to make it work: add it to a swift-service-lifecycle `ServiceGroup` (`run()`,
/// which drains on SIGTERM), call `work()` from a task of your own (until cancelled or
/// `shutdown(drain:)`), or `workUntilIdle()` in scripts and tests (until nothing is left to do).
/// Jobs are JSON (`register(kind:…)`, `submit(kind:…)`) or typed (`JobDefinition`,
/// `register(_:…)`, `submit(_:_:…)`, `output(of:as:)`). Docs/Embedding.md has a complete example.
public final class JobEngine: Sendable {
    struct Registration {
        let handler: JobHandler
        let retry: RetryPolicy
        let concurrency: Int?
        var timeout: Duration? = nil
    }

    struct State {
        /// The jobs in flight, folded from the log, with the claim index.
        var view = EngineView()
        var registrations: [String: Registration] = [:]
        /// Kinds registered with a parameter no engine can work with, and why: thrown by every
        /// way of working (`checkWorkable()`) until the kind is registered again with usable ones.
        var invalidRegistrations: [String: InvalidEngineOptions] = [:]
        /// Attempts running in this engine.
        var running: [JobID: RunningAttempt] = [:]
        /// When orphaned assets were last pruned (the engine's start at first).
        var lastAssetPrune: Timestamp
        /// Jobs whose cancellation was asked while this engine runs them, with the reason.
        var canceling: [JobID: String] = [:]
        /// Set by `shutdown`: claim nothing more.
        var draining = false
        /// `shutdown(drain:)` has drained, cancelled what was left and waited out the grace.
        var shutDown = false
        /// A work loop whose task was cancelled is cancelling its handlers: each that ends
        /// cancelled gives its attempt back (`worker_shutdown`), as in a shutdown.
        var interrupting = 0
        /// Set when the engine stops waiting out a storage fault (shutdown past its drain time,
        /// or `Options.storageFaults.giveUpAfter`): outcomes that cannot be written are left to
        /// the lease sweep, listed in `unrecorded`.
        var abandoning = false
        var unrecorded: [String] = []
        /// An event this build cannot read (a payload an earlier build let through, an illegal
        /// sequence): the view ends before it, and the engine stops with it rather than run on a
        /// log it cannot see whole.
        var unreadable: LedgerError?
        /// When this engine last looked for jobs waiting only for its clock (`noticeJobsWaitingOnTheClock`).
        var lastClockCheck: Timestamp?
        /// Why the last look at the log (`jobsInFlight`) was cut short; nil once one succeeds.
        var lastReadFailure: LedgerError?
        var random: SplitMix64
        /// The engine snapshot: whether the start from one was tried, the `seq` of the one
        /// loaded or written last, and a write in progress.
        var snapshot = SnapshotState()
        /// Work loops running (`run`, `work`, `workUntilIdle`, a `tick`): the view follows the
        /// log only while one runs. An engine that only submits (an API node, `serve --workers 0`) would otherwise
        /// keep every job it queued, and, once another process's events left gaps it never
        /// reads, every later event of its own whole; the next loop reads them from the log.
        var following = 0
    }

    struct SnapshotState {
        var tried = false
        var seq: Int64 = 0
        var writing: Task<Void, Never>?
    }

    /// The log this engine reads its queue from and records every step in.
    public let ledger: Ledger
    /// Where the engine takes the time (leases, retry times, run-at).
    public let clock: any JobClock
    /// The options it was created with.
    public let options: Options
    let state: Mutex<State>
    /// The storage fault episode, shared by every write the engine makes (see `Options.storageFaults`).
    let storage: StoragePause
    /// Signalled when an attempt ends and frees its slot.
    let slotFreed = WakeSignal()

    /// An engine on `ledger`. It runs nothing until handlers are registered and it is run (`run()`
    /// in a `ServiceGroup`, `work()`, `workUntilIdle()` or `tick()`). Tests pass a `ManualClock`
    /// (and open the ledger with the same clock).
    ///
    /// ```swift
    /// let engine = JobEngine(ledger: try Ledger.open(path: "jobs.sqlite"))
    /// ```
    public init(ledger: Ledger, clock: any JobClock = SystemClock(), options: Options = Options()) {
        self.ledger = ledger
        self.clock = clock
        self.options = options
        state = Mutex(State(lastAssetPrune: clock.now(), random: SplitMix64(seed: options.randomSeed ?? UInt64.random(in: 0...UInt64.max))))
        storage = StoragePause(policy: options.storageFaults, clock: { clock.now() }, paused: "claims, lease sweeps and recording",
                               observe: LedgerMetrics(component: "engine", factory: options.metrics).storageObserver(logger: options.logger))
    }

    // MARK: - Registering and submitting

    /// Registers the handler for a kind of job, with its retry policy, an optional limit on
    /// how many of this kind run at once in this engine, and an optional `timeout` for one
    /// attempt. Registering a kind again replaces its handler. For a handler with a typed input
    /// and output see `register(_:retry:concurrency:timeout:_:)`.
    ///
    /// An attempt still running `timeout` after it started has its task cancelled; when the
    /// handler then throws (or returns `ctx.isCancelled`'s way) the attempt is recorded as a
    /// retryable failure with code `timeout`, retried by `retry` like any other failure. A
    /// handler that still finishes normally is recorded as completed. One that ignores the
    /// cancellation for `Options.cancelGrace` more is recorded as timed out all the same, and
    /// whatever it returns later is not recorded (its slot stays taken until it returns).
    /// A `concurrency` below 1, a `timeout` that is not positive, or a `retry` with a negative
    /// field is refused: the kind's jobs could never run (`workUntilIdle()` would wait for them
    /// forever), every attempt would be cancelled as it starts, or no retry could be timed. The
    /// registration is not made, and `work()`, `workUntilIdle()`, `tick()` and `run()` throw
    /// `InvalidEngineOptions` naming the kind and the parameter before they claim anything,
    /// until the kind is registered again with usable values (so a limit read from a
    /// configuration file is an error to report, not a crash). Nil means no limit of the kind's
    /// own (only `Options.concurrency`), and no timeout.
    ///
    /// ```swift
    /// engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 500), concurrency: 2, timeout: .seconds(120)) { ctx in
    ///     JobCompletion(output: ["echo": ctx.input])
    /// }
    /// ```
    public func register(kind: String, retry: RetryPolicy = RetryPolicy(), concurrency: Int? = nil, timeout: Duration? = nil,
                         _ handler: @escaping JobHandler) {
        var refusal: InvalidEngineOptions?
        if let concurrency, concurrency < 1 {
            refusal = InvalidEngineOptions(kind: kind, parameter: "concurrency", reason: "must be at least 1 (nil: no limit of its own), got \(concurrency)")
        } else if let timeout, timeout <= .zero {
            refusal = InvalidEngineOptions(kind: kind, parameter: "timeout", reason: "must be positive (nil: none), got \(timeout)")
        } else if retry.baseMilliseconds < 0 || retry.capMilliseconds < 0 {
            // Its fields are `var`s (its init clamps): a negative one made the jitter's range
            // impossible and stopped the process at the kind's first failure.
            let (field, value) = retry.baseMilliseconds < 0 ? ("baseMilliseconds", retry.baseMilliseconds) : ("capMilliseconds", retry.capMilliseconds)
            refusal = InvalidEngineOptions(kind: kind, parameter: "retry", reason: "must have a \(field) of zero or more, got \(value)")
        }
        state.withLock { s in
            s.invalidRegistrations[kind] = refusal
            // A refused registration changes nothing else: the engine will not work until the
            // kind is registered again, so no handler runs under the refused values.
            if refusal == nil { s.registrations[kind] = Registration(handler: handler, retry: retry, concurrency: concurrency, timeout: timeout) }
        }
    }

    /// The smallest payload limit (`LedgerConfiguration.maxPayloadBytes`) of a log an engine
    /// works on: room for a claim, and for a failure recorded with the start of its message
    /// when the whole of it does not fit.
    public static let minimumPayloadBytes = 8192

    /// Throws `InvalidEngineOptions` for anything an engine cannot work with: its options
    /// (`Options.validate()`), the log's payload limit (`minimumPayloadBytes`), then a kind registered with a parameter it cannot run under (the
    /// first such kind by name). What every way of working checks before it claims anything.
    func checkWorkable() throws(InvalidEngineOptions) {
        try options.validate()
        // Below this, the engine's own events may not fit: every claim (`started`) refused,
        // tried again each round for ever, or a failure that cannot be recorded even shortened
        // (the job then held `running` until its lease is swept).
        let limit = ledger.configuration.maxPayloadBytes
        guard limit >= Self.minimumPayloadBytes else {
            throw InvalidEngineOptions(option: "maxPayloadBytes", reason: "the log's payload limit must be at least \(Self.minimumPayloadBytes) bytes for an engine to work on it "
                                       + "(its own events, a claim or a failure with its message, need up to that), got \(limit)")
        }
        let refused = state.withLock { s in s.invalidRegistrations.min { $0.key < $1.key }?.value }
        if let refused { throw refused }
    }

    /// Queues a job and returns its id. The same idempotency key again, with the same request,
    /// returns the first job's id and queues nothing; with another request (another kind, input,
    /// priority, `maxAttempts`, `runAt` or owner) it throws `IdempotencyKeyReused` and queues
    /// nothing. Any engine on the log with a handler for `kind` may run it, not
    /// before `runAt`, higher `priority` first, up to `maxAttempts` attempts. `owner` records
    /// who the job belongs to (`EventPayload.Queued.owner`; `jobledger serve` shows a job only
    /// to its owner and admins). A payload the log refuses throws `LedgerError.invalidPayload`
    /// and queues nothing: a kind or owner of 0 or over 200 bytes, a priority or attempt count
    /// out of range, or a number in `input` that JSON cannot carry (NaN, ±infinity). A log
    /// file moved or deleted while open throws a `vanished` storage fault and queues nothing.
    ///
    /// ```swift
    /// let job = try await engine.submit(kind: "design", input: ["prompt": "a red bicycle"],
    ///                                   idempotencyKey: "request-7f3", maxAttempts: 3, priority: 5)
    /// ```
    @discardableResult
    public func submit(kind: String, input: JSONValue = [:], idempotencyKey: String? = nil, runAt: Timestamp? = nil,
                       maxAttempts: Int = 3, priority: Int = 0, owner: String? = nil) async throws -> JobID {
        let queued = EventPayload.Queued(kind: kind, input: input, priority: priority, maxAttempts: maxAttempts, runAt: runAt, owner: owner)
        let payload = EventPayload.queued(queued)
        let id = JobID.generate(at: clock.now())
        // A log file moved or deleted meanwhile is refused by the append itself (a `vanished`
        // storage fault, checked once per append transaction): nothing is queued.
        let stored = try await ledger.append(NewEvent(job: id, payload: payload,
                                                      expectedVersion: idempotencyKey == nil ? 0 : nil, idempotencyKey: idempotencyKey))
        storage.succeeded()
        folded(stored)
        if stored.job == id {
            count("submitted", kind: kind)
            log(id, .debug, "submitted", metadata: ["kind": "\(kind)", "priority": "\(priority)"])
        } else if let key = idempotencyKey, let fields = IdempotencyKeyReused.differences(stored: stored.payload, asked: queued) {
            throw IdempotencyKeyReused(key: key, job: stored.job, fields: fields)
        } else {
            log(stored.job, .debug, "idempotency key already used; returning the first job")
        }
        return stored.job
    }

    /// Cancels a job: a queued job at once; a job running in this engine has its handler task
    /// cancelled, and `canceled` is recorded when the handler returns, or once
    /// `Options.cancelGrace` has passed if it ignores the cancellation (what it reports or
    /// returns later is then not recorded); a job running elsewhere
    /// is recorded as canceled, and its worker's later events are refused. A finished job is
    /// left as it is; an unknown one throws `LedgerError.rejected` (`unknownJob`). A reason the
    /// log could not record (its `canceled` event over `LedgerConfiguration.maxPayloadBytes`)
    /// throws `LedgerError.payloadTooLarge` and cancels nothing, whichever engine runs the job.
    /// Returns whether it cancelled anything: false for a job that had already finished
    /// (completed, failed or canceled), which a caller could not tell before.
    ///
    /// ```swift
    /// if try await !engine.cancel(job, reason: "user closed the tab") { print("\(job) had already finished") }
    /// ```
    @discardableResult
    public func cancel(_ job: JobID, reason: String = "canceled") async throws -> Bool {
        // Checked before anything else: a handler cancelled here for a reason its `canceled`
        // event cannot carry would have nothing recorded, and its job would run again.
        let limit = ledger.configuration.maxPayloadBytes
        let size = EventPayload.canceled(.init(reason: reason)).canonicalBytes.count
        if size > limit { throw LedgerError.payloadTooLarge(job: job, size: size, limit: limit) }
        // A busy worker may append progress between our read and our append: read again and
        // retry on a lost race, a bounded number of times.
        var lastConflict: LedgerError?
        for _ in 0..<20 {
            let local = state.withLock { s -> (Task<Void, Never>?, Int)? in
                guard let r = s.running[job], r.lost == nil else { return nil }
                s.canceling[job] = reason
                return (r.task, r.attempt)
            }
            if let (task, attempt) = local {
                task?.cancel()
                watchCancellation(of: job, attempt: attempt, reason: reason)
                return true
            }
            guard let current = try await ledger.state(of: job) else {
                throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .canceled, rule: .unknownJob))
            }
            if current.status.isTerminal { return false }  // already finished: nothing to cancel
            // A log moved or deleted meanwhile is refused by the append transaction itself.
            do {
                folded(try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: reason)), expectedVersion: current.version)))
                storage.succeeded()
                log(job).info("canceled", metadata: ["reason": "\(reason)"])
                return true
            } catch {
                if case .concurrencyConflict = error { lastConflict = error; continue }
                throw error
            }
        }
        throw lastConflict!
    }

    /// Requeues a job that failed for good (a dead letter) as a recorded `queued` event, with
    /// `attempts` more attempts (1…1000, the most a job may have; the job's attempts stay
    /// capped at 1000 in all); its input and priority are kept. Refused
    /// (`LedgerError.rejected`) unless the job has failed for good; an `attempts` outside
    /// 1…1000 throws `InvalidArgument` before anything is read or written.
    ///
    /// ```swift
    /// for dead in try engine.jobs(status: .failed, kind: "design") { try await engine.retry(dead.id, attempts: 2) }
    /// ```
    public func retry(_ job: JobID, attempts: Int = 1) async throws {
        // The log would refuse it as the requeue's payload field (`max_attempts`), which this
        // call's caller never wrote.
        guard Self.retryAttempts.contains(attempts) else {
            throw InvalidArgument(call: "retry(_:attempts:)", parameter: "attempts",
                                  reason: "must be in \(Self.retryAttempts.lowerBound)…\(Self.retryAttempts.upperBound), got \(attempts)")
        }
        guard let s = try await ledger.state(of: job) else {
            throw LedgerError.rejected(.noSuchJob(job))
        }
        // The owner stays (a requeue naming nobody keeps it); a job queued before the `owner`
        // field had it in its input, under a key a new event may not carry.
        var input = s.input
        if case .object(var o) = input, o.removeValue(forKey: EventPayload.Queued.legacyOwnerKey) != nil { input = .object(o) }
        let requeue = EventPayload.queued(.init(kind: s.kind, input: input, priority: s.priority, maxAttempts: attempts))
        folded(try await ledger.append(NewEvent(job: job, payload: requeue, expectedVersion: s.version)))
        storage.succeeded()
    }

    /// What `retry(_:attempts:)` accepts: the attempts a `queued` event may carry.
    static let retryAttempts = 1...1000

    /// Attempts running in this engine now.
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// The attempts running in this engine now, by job id: what a process stopped at once
    /// leaves to their leases.
    public var runningAttempts: [(job: JobID, attempt: Int)] {
        state.withLock { $0.running.map { (job: $0.key, attempt: $0.value.attempt) } }.sorted { $0.job < $1.job }
    }

    /// True once `shutdown` has begun: the engine claims nothing more.
    public var isDraining: Bool { state.withLock { $0.draining } }
}

/// A job this engine won, with the attempt it runs and its `started` event's seq.
struct Claim: Sendable {
    let job: JobState
    let attempt: Int
    let leaseDeadline: Timestamp
    let seq: Int64
}

/// A progress report waiting for the next durable `progress` event of its attempt.
struct PendingProgress: Sendable, Equatable {
    var fraction: Double
    var message: String?
}

/// An attempt running in this engine.
struct RunningAttempt {
    let kind: String
    let attempt: Int
    /// The seq of the attempt's `started` event: the engine's view of the log reaches it
    /// before the view can tell whether the attempt still holds the job.
    let startedSeq: Int64
    /// The lease as last recorded (by `started` or the latest progress).
    var leaseDeadline: Timestamp
    var task: Task<Void, Never>?
    /// Waits out `Options.cancelGrace` after a `cancel` (see `watchCancellation`); cancelled
    /// when the handler returns, so it does not outlive the attempt.
    var cancelWatch: Task<Void, Never>?
    /// When its last `progress` event was written (nil: none yet).
    var lastDurableProgress: Timestamp?
    /// A report merged since then, not yet written (the latest wins).
    var pendingProgress: PendingProgress?
    /// The fraction of the attempt's latest accepted report, written or merged: a lower one is
    /// refused when it is made, as the log would refuse it.
    var reportedProgress: Double = 0
    /// Writes the merged report once the interval has passed, should the handler go quiet.
    var progressTimer: ProgressTimer?
    /// Numbers this attempt's timers, so a superseded one leaves the state alone.
    var progressTimers: UInt64 = 0
    /// Why the attempt lost its claim, once it did: nothing more of it is recorded.
    var lost: String?
    /// The handler has returned and its outcome is being recorded.
    var recording = false
    /// The attempt ran past its kind's timeout and its task was cancelled.
    var timedOut = false
    /// The handler has returned (its outcome is decided next): a timeout no longer applies.
    var returned = false
}
