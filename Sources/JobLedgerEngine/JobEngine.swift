import Foundation
import JobLedger
import JobLedgerSQLite
import Logging
import Metrics
import ServiceLifecycle
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
    /// How an engine works: who it is, how long its claims hold, how much it runs at once, how it
    /// shuts down, where it logs and counts. Every field has a default; set the ones you need.
    ///
    /// ```swift
    /// var options = JobEngine.Options(workerID: "render-1")
    /// options.concurrency = 8                      // attempts at once, over all kinds
    /// options.leaseMilliseconds = 60_000           // a handler reports progress at least once a minute
    /// options.drainTimeout = .seconds(30)          // graceful shutdown waits this long for handlers
    /// options.logger.logLevel = .info
    /// let engine = JobEngine(ledger: ledger, options: options)
    /// ```
    public struct Options: Sendable {
        /// Recorded in `started` events; should be unique per running engine.
        public var workerID: String
        /// How long a claim holds without a heartbeat (progress extends it).
        public var leaseMilliseconds: Int64 = 30_000
        /// Attempts this engine runs at once, over all kinds.
        public var concurrency: Int = 4
        /// Seed for the retry jitter, for repeatable tests; nil draws one.
        public var randomSeed: UInt64?
        /// How long running handlers get to finish on graceful shutdown before they are cancelled.
        public var drainTimeout: Duration = .seconds(10)
        /// Where the engine logs; every line carries the job id as `job` metadata.
        public var logger = Logger(label: "jobledger.engine")
        /// Where counters and timers go (default: the process's bootstrapped metrics system).
        public var metrics: (any MetricsFactory)?
        /// How staged assets that no event references are cleaned up (an attempt that lost its
        /// claim after staging its result): every `intervalMilliseconds`, assets staged more
        /// than `graceMilliseconds` ago and still unreferenced are removed. Nil: never.
        public var assetPrune: AssetPrune? = AssetPrune()

        /// When orphaned staged assets are removed (see `assetPrune`).
        public struct AssetPrune: Sendable {
            /// How often the engine looks for orphans (default: hourly).
            public var intervalMilliseconds: Int64 = 3_600_000
            /// How old an unreferenced asset must be before it is removed (default: an hour), so bytes
            /// staged a moment before their event is appended are never taken.
            public var graceMilliseconds: Int64 = 3_600_000
            /// Pruning every `intervalMilliseconds`, of assets older than `graceMilliseconds`.
            public init(intervalMilliseconds: Int64 = 3_600_000, graceMilliseconds: Int64 = 3_600_000) {
                self.intervalMilliseconds = intervalMilliseconds
                self.graceMilliseconds = graceMilliseconds
            }
        }

        /// Defaults for everything, with `workerID` host name and process id unless given.
        public init(workerID: String = "\(ProcessInfo.processInfo.hostName)-\(getpid())") {
            self.workerID = workerID
        }
    }

    struct Registration {
        let handler: JobHandler
        let retry: RetryPolicy
        let concurrency: Int?
    }

    struct State {
        var fold = LedgerFold()
        var registrations: [String: Registration] = [:]
        /// Attempts running in this engine.
        var running: [JobID: RunningAttempt] = [:]
        /// When orphaned assets were last pruned (the engine's start at first).
        var lastAssetPrune: Timestamp
        /// Jobs whose cancellation was asked while this engine runs them, with the reason.
        var canceling: [JobID: String] = [:]
        /// Set by `shutdown`: claim nothing more.
        var draining = false
        /// The run loop, waiting for a slot to free up.
        var slotWaiter: CheckedContinuation<Void, Never>?
        var random: SplitMix64
    }

    /// The log this engine reads its queue from and records every step in.
    public let ledger: Ledger
    /// Where the engine takes the time (leases, retry times, run-at).
    public let clock: any JobClock
    /// The options it was created with.
    public let options: Options
    let state: Mutex<State>

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
    }

    // MARK: - Registering and submitting

    /// Registers the handler for a kind of job, with its retry policy and an optional limit on
    /// how many of this kind run at once in this engine. Registering a kind again replaces its
    /// handler. For a handler with a typed input and output see `register(_:retry:concurrency:_:)`.
    ///
    /// ```swift
    /// engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 500), concurrency: 2) { ctx in
    ///     JobCompletion(output: ["echo": ctx.input])
    /// }
    /// ```
    public func register(kind: String, retry: RetryPolicy = RetryPolicy(), concurrency: Int? = nil, _ handler: @escaping JobHandler) {
        state.withLock { $0.registrations[kind] = Registration(handler: handler, retry: retry, concurrency: concurrency) }
    }

    /// Queues a job and returns its id. The same idempotency key again returns the first job's
    /// id and queues nothing. Any engine on the log with a handler for `kind` may run it, not
    /// before `runAt`, higher `priority` first, up to `maxAttempts` attempts.
    ///
    /// ```swift
    /// let job = try await engine.submit(kind: "design", input: ["prompt": "a red bicycle"],
    ///                                   idempotencyKey: "request-7f3", maxAttempts: 3, priority: 5)
    /// ```
    @discardableResult
    public func submit(kind: String, input: JSONValue = [:], idempotencyKey: String? = nil, runAt: Timestamp? = nil,
                       maxAttempts: Int = 3, priority: Int = 0) async throws -> JobID {
        let payload = EventPayload.queued(.init(kind: kind, input: input, priority: priority, maxAttempts: maxAttempts, runAt: runAt))
        let id = JobID.generate(at: clock.now())
        let stored = try await ledger.append(NewEvent(job: id, payload: payload,
                                                      expectedVersion: idempotencyKey == nil ? 0 : nil, idempotencyKey: idempotencyKey))
        if stored.job == id {
            count("submitted", kind: kind)
            log(id).debug("submitted", metadata: ["kind": "\(kind)", "priority": "\(priority)"])
        } else {
            log(stored.job).debug("idempotency key already used; returning the first job")
        }
        return stored.job
    }

    /// Cancels a job: a queued job at once; a job running in this engine has its handler task
    /// cancelled, and `canceled` is recorded when the handler returns; a job running elsewhere
    /// is recorded as canceled, and its worker's later events are refused. A finished job is
    /// left as it is; an unknown one throws `LedgerError.rejected` (`unknownJob`).
    ///
    /// ```swift
    /// try await engine.cancel(job, reason: "user closed the tab")
    /// ```
    public func cancel(_ job: JobID, reason: String = "canceled") async throws {
        // A busy worker may append progress between our read and our append: read again and
        // retry on a lost race, a bounded number of times.
        var lastConflict: LedgerError?
        for _ in 0..<20 {
            let local = state.withLock { s -> Task<Void, Never>? in
                guard let r = s.running[job], r.lost == nil else { return nil }
                s.canceling[job] = reason
                return r.task
            }
            if let local { local.cancel(); return }
            guard let current = try await ledger.state(of: job) else {
                throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .canceled, rule: .unknownJob))
            }
            if current.status.isTerminal { return }  // already finished: nothing to cancel
            do {
                _ = try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: reason)), expectedVersion: current.version))
                log(job).info("canceled", metadata: ["reason": "\(reason)"])
                return
            } catch {
                if case .concurrencyConflict = error { lastConflict = error; continue }
                throw error
            }
        }
        throw lastConflict!
    }

    /// Requeues a job that failed for good (a dead letter) as a recorded `queued` event, with
    /// `attempts` more attempts; its input and priority are kept. Refused
    /// (`LedgerError.rejected`) unless the job has failed for good.
    ///
    /// ```swift
    /// for dead in try engine.jobs(status: .failed, kind: "design") { try await engine.retry(dead.id, attempts: 2) }
    /// ```
    public func retry(_ job: JobID, attempts: Int = 1) async throws {
        guard let s = try await ledger.state(of: job) else {
            throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .queued, rule: .unknownJob))
        }
        let requeue = EventPayload.queued(.init(kind: s.kind, input: s.input, priority: s.priority, maxAttempts: attempts))
        _ = try await ledger.append(NewEvent(job: job, payload: requeue, expectedVersion: s.version))
    }

    // MARK: - Queries

    /// The job's current state, folded from its events in the log (so it is up to date with
    /// every engine and process writing to it); nil when no such job exists.
    ///
    /// ```swift
    /// if let s = try engine.state(of: job), s.status == .running {
    ///     print("attempt \(s.attempt), \(Int(s.progress * 100))% \(s.progressMessage ?? "")")
    /// }
    /// ```
    public func state(of job: JobID) throws -> JobState? { try ledger.state(of: job) }

    /// The job's final state (completed, failed or canceled), or nil while it is queued or
    /// running, or unknown. Its `result`, `output` and `lastError` say how it ended.
    ///
    /// ```swift
    /// if let done = try engine.result(of: job), done.status == .completed {
    ///     let png = try engine.ledger.assetBytes(done.result!.sha256)
    /// }
    /// ```
    public func result(of job: JobID) throws -> JobState? {
        guard let s = try ledger.state(of: job), s.status.isTerminal else { return nil }
        return s
    }

    /// Waits until the job is completed, failed or canceled (by any worker, in any process)
    /// and returns its final state, checking the log every `pollInterval`. Throws
    /// `LedgerError.rejected` (`unknownJob`) for an unknown job, and `CancellationError` when the
    /// waiting task is cancelled. Some engine must be working meanwhile.
    ///
    /// ```swift
    /// let job = try await engine.submit(kind: "design", input: ["prompt": "a cat"])
    /// let final = try await engine.wait(for: job)
    /// print(final.status, final.lastError?.description ?? "")
    /// ```
    public func wait(for job: JobID, pollInterval: Duration = .milliseconds(20)) async throws -> JobState {
        while true {
            guard let s = try await ledger.state(of: job) else {
                throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .queued, rule: .unknownJob))
            }
            if s.status.isTerminal { return s }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// Every job in the log in a given state and/or of a given kind, oldest first. Folds the
    /// whole log: for dashboards and tools, not for a hot path.
    ///
    /// ```swift
    /// let deadLetters = try engine.jobs(status: .failed, kind: "design")
    /// ```
    public func jobs(status: JobStatus? = nil, kind: String? = nil) throws -> [JobState] {
        try ledger.jobStates().values
            .filter { (status == nil || $0.status == status) && (kind == nil || $0.kind == kind) }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Jobs in flight (queued or running) as this engine last folded them, optionally of one
    /// state and kind.
    public func activeJobs(status: JobStatus? = nil, kind: String? = nil) async -> [JobState] {
        await refresh()
        return state.withLock { s in
            s.fold.active.values.filter { (status == nil || $0.status == status) && (kind == nil || $0.kind == kind) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    // MARK: - Working

    /// One round of work, for tests: read the log's new events,
    /// requeue jobs whose lease expired, claim every job that may run now (within the
    /// concurrency limits), and wait until those attempts have finished. Returns how many
    /// attempts it ran. With a `ManualClock`, nothing waits on the wall clock:
    ///
    /// ```swift
    /// try await engine.tick()                  // runs what is due; a retryable failure is requeued
    /// clock.advance(milliseconds: 5_000)       // past the retry time
    /// try await engine.tick()                  // the second attempt
    /// ```
    @discardableResult
    public func tick() async throws -> Int {
        let tasks = try await claimAndStart()
        for t in tasks { await t.value }
        return tasks.count
    }

    /// Works until the calling task is cancelled or `shutdown(drain:)` is called: claims jobs as
    /// slots free up, polling the log every `pollInterval` when idle, and returns once the
    /// attempts in flight have ended. The loop behind `run()`, without its signal handling: call
    /// it from your own task, or use `run()` in a swift-service-lifecycle `ServiceGroup`.
    ///
    /// ```swift
    /// let worker = Task { try await engine.work() }
    /// // … on shutdown:
    /// await engine.shutdown(drain: .seconds(10))
    /// try await worker.value
    /// ```
    public func work(pollInterval: Duration = .milliseconds(50)) async throws {
        try await workLoop(untilIdle: false, pollInterval: pollInterval)
    }

    /// Works until no job of a registered kind is queued, delayed or running, then returns:
    /// for scripts, batch runs and tests (`jobledger work --until-idle`). Stops earlier, like
    /// `work(pollInterval:)`, when the task is cancelled or `shutdown(drain:)` is called. A
    /// delayed job (a `runAt` or a retry time still ahead) keeps it waiting until it has run.
    ///
    /// ```swift
    /// let job = try await engine.submit(kind: "design", input: ["prompt": "a red bicycle"])
    /// try await engine.workUntilIdle()
    /// let done = try engine.result(of: job)   // finished: completed, failed or canceled
    /// ```
    public func workUntilIdle(pollInterval: Duration = .milliseconds(50)) async throws {
        try await workLoop(untilIdle: true, pollInterval: pollInterval)
    }

    private func workLoop(untilIdle: Bool, pollInterval: Duration) async throws {
        while !Task.isCancelled && !state.withLock({ $0.draining }) {
            let started = try await claimAndStart()
            if state.withLock({ $0.running.count >= options.concurrency }) {
                await waitForSlot()
                continue
            }
            if started.isEmpty {
                // Idle: nothing this engine could run is queued, delayed or running.
                let kinds = state.withLock { Set($0.registrations.keys) }
                if untilIdle, !(await activeJobs()).contains(where: { kinds.contains($0.kind) }), state.withLock({ $0.running.isEmpty }) { return }
                try? await Task.sleep(for: pollInterval)
            }
        }
        // Stopped (shutdown or cancellation): return once the attempts in flight have ended.
        for t in state.withLock({ $0.running.values.compactMap(\.task) }) { await t.value }
    }

    /// Suspends until a running attempt finishes (returns at once if a slot is free).
    private func waitForSlot() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.running.count < options.concurrency { return true }
                s.slotWaiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    /// Reads the events appended since the last look (by anyone) into the engine's view.
    func refresh() async {
        // Read outside the engine's lock (a read can take a while; handlers reporting progress
        // must not wait for it), then fold under it whatever no concurrent refresh folded yet.
        // Page by page, so a long backlog (an engine starting on a big log) stays in bounded memory.
        var from = state.withLock { $0.fold.lastSeq } + 1
        while true {
            guard let events = try? await ledger.page(from: from, limit: 4096), let last = events.last else { return }
            state.withLock { s in
                for e in events where e.seq > s.fold.lastSeq { _ = try? s.fold.apply(e) }
            }
            if events.count < 4096 { return }
            from = last.seq + 1
        }
    }

    /// Graceful shutdown: claim nothing more, let running handlers finish for up to `drain`,
    /// then cancel the rest. A handler cancelled this way is recorded as a retryable
    /// `worker_shutdown` failure, so another worker picks the job up. `run()` calls it when its
    /// service group shuts down; `work()` and `workUntilIdle()` return once it has.
    ///
    /// ```swift
    /// await engine.shutdown(drain: .seconds(10))
    /// ```
    public func shutdown(drain: Duration) async {
        let tasks = state.withLock { s in
            s.draining = true
            return s.running.values.compactMap(\.task)
        }
        let deadline = ContinuousClock.now.advanced(by: drain)
        while state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for t in state.withLock({ $0.running.values.compactMap(\.task) }) { t.cancel() }
        for t in tasks { await t.value }
    }

    /// Attempts running in this engine now.
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// True once `shutdown` has begun: the engine claims nothing more.
    public var isDraining: Bool { state.withLock { $0.draining } }

    private func claimAndStart() async throws -> [Task<Void, Never>] {
        if state.withLock({ $0.draining }) { return [] }
        await refresh()
        noticeLostClaims()
        if await sweepExpiredLeases() { await refresh() }
        await pruneOrphanAssetsWhenDue()
        let now = clock.now()
        let chosen = state.withLock { s in claimable(now: now, s: s, limit: options.concurrency - s.running.count) }
        // Claim concurrently, so the claims share group-committed transactions; each one
        // succeeds or loses its race on its own.
        let claimed: [Claim] = try await withThrowingTaskGroup(of: Claim?.self) { group in
            for job in chosen {
                group.addTask {
                    let attempt = job.attempt + 1
                    let lease = self.clock.now().adding(milliseconds: self.options.leaseMilliseconds)
                    do {
                        let started = try await self.ledger.append(NewEvent(job: job.id, payload: .started(.init(
                            worker: self.options.workerID, attempt: attempt, leaseDeadline: lease)), expectedVersion: job.version))
                        return Claim(job: job, attempt: attempt, leaseDeadline: lease, seq: started.seq)
                    } catch let e as LedgerError where e.isLostRace {
                        return nil  // another worker claimed it (or it was canceled) first
                    } catch {
                        // Busy or storage trouble: skip this claim this round; the others stand.
                        self.log(job.id).warning("claim failed: \(error)")
                        return nil
                    }
                }
            }
            var won: [Claim] = []
            for try await r in group { if let r { won.append(r) } }
            return won
        }
        var tasks: [Task<Void, Never>] = []
        for claim in claimed {
            let job = claim.job, attempt = claim.attempt
            count("started", kind: job.kind)
            time("queue_wait", kind: job.kind, milliseconds: now.milliseconds - job.runAt.milliseconds)
            log(job.id).debug("claimed", metadata: ["attempt": "\(attempt)", "worker": "\(options.workerID)"])
            guard let registration = state.withLock({ $0.registrations[job.kind] }) else { continue }
            let context = JobContext(job: job.id, kind: job.kind, input: job.input, attempt: attempt, maxAttempts: job.maxAttempts, engine: self)
            // Registered under the lock before the attempt can finish and deregister itself.
            let task = state.withLock { s in
                let t = Task { await self.runAttempt(context, registration: registration) }
                s.running[job.id] = RunningAttempt(kind: job.kind, attempt: attempt, startedSeq: claim.seq,
                                                   leaseDeadline: claim.leaseDeadline, task: t)
                return t
            }
            tasks.append(task)
        }
        return tasks
    }
}

/// A job this engine won, with the attempt it runs and its `started` event's seq.
struct Claim: Sendable {
    let job: JobState
    let attempt: Int
    let leaseDeadline: Timestamp
    let seq: Int64
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
    /// Why the attempt lost its claim, once it did: nothing more of it is recorded.
    var lost: String?
    /// The handler has returned and its outcome is being recorded.
    var recording = false
}

extension LedgerError {
    /// The job moved on between reading it and appending: another worker or engine got there
    /// first. Not a failure of the engine.
    var isLostRace: Bool {
        switch self {
        case .concurrencyConflict, .rejected: true
        default: false
        }
    }
}

/// The engine as a swift-service-lifecycle `Service`: runs until the service group shuts down
/// gracefully (SIGTERM/SIGINT in a `ServiceGroup`), then stops claiming, drains for
/// `Options.drainTimeout` and cancels what is left, recording it.
extension JobEngine: Service {
    /// Runs the engine as a service: `work()` until the service group shuts down gracefully,
    /// then `shutdown(drain: options.drainTimeout)`. Add the engine to a `ServiceGroup`; for a
    /// loop of your own use `work(pollInterval:)`, for a batch `workUntilIdle(pollInterval:)`.
    ///
    /// ```swift
    /// let group = ServiceGroup(configuration: .init(services: [engine], gracefulShutdownSignals: [.sigterm], logger: logger))
    /// try await group.run()
    /// ```
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await work()
        } onGracefulShutdown: {
            Task { await self.shutdown(drain: self.options.drainTimeout) }
        }
    }
}
