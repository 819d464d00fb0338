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
public final class JobEngine: Sendable {
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
        var running: [JobID: (kind: String, task: Task<Void, Never>)] = [:]
        /// Jobs whose cancellation was asked while this engine runs them, with the reason.
        var canceling: [JobID: String] = [:]
        /// Set by `shutdown`: claim nothing more.
        var draining = false
        /// The run loop, waiting for a slot to free up.
        var slotWaiter: CheckedContinuation<Void, Never>?
        var random: SplitMix64
    }

    public let ledger: Ledger
    public let clock: any JobClock
    public let options: Options
    let state: Mutex<State>

    // MARK: Metrics: jobledger_jobs_{submitted,started,completed,failed,retried}_total by kind;
    // jobledger_job_queue_wait (runnable → started) and jobledger_job_run_time (started → end).

    private var metricsFactory: any MetricsFactory { options.metrics ?? MetricsSystem.factory }

    func count(_ what: String, kind: String) {
        Counter(label: "jobledger_jobs_\(what)_total", dimensions: [("kind", kind)], factory: metricsFactory).increment()
    }

    func time(_ what: String, kind: String, milliseconds: Int64) {
        Metrics.Timer(label: "jobledger_job_\(what)", dimensions: [("kind", kind)], factory: metricsFactory)
            .recordMilliseconds(max(0, milliseconds))
    }

    func log(_ job: JobID) -> Logger {
        var l = options.logger
        l[metadataKey: "job"] = "\(job)"
        return l
    }

    public init(ledger: Ledger, clock: any JobClock = SystemClock(), options: Options = Options()) {
        self.ledger = ledger
        self.clock = clock
        self.options = options
        state = Mutex(State(random: SplitMix64(seed: options.randomSeed ?? UInt64.random(in: 0...UInt64.max))))
    }

    // MARK: - Registering and submitting

    /// Registers the handler for a kind of job, with its retry policy and an optional limit on
    /// how many of this kind run at once in this engine.
    public func register(kind: String, retry: RetryPolicy = RetryPolicy(), concurrency: Int? = nil, _ handler: @escaping JobHandler) {
        state.withLock { $0.registrations[kind] = Registration(handler: handler, retry: retry, concurrency: concurrency) }
    }

    /// Queues a job and returns its id. The same idempotency key again returns the first job's
    /// id and queues nothing.
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
    /// is recorded as canceled, and its worker's later events are refused.
    public func cancel(_ job: JobID, reason: String = "canceled") async throws {
        // A busy worker may append progress between our read and our append: read again and
        // retry on a lost race, a bounded number of times.
        var lastConflict: LedgerError?
        for _ in 0..<20 {
            let local = state.withLock { s -> Task<Void, Never>? in
                guard let r = s.running[job] else { return nil }
                s.canceling[job] = reason
                return r.task
            }
            if let local { local.cancel(); return }
            guard let current = try ledger.state(of: job) else {
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
    /// `attempts` more attempts; its input and priority are kept.
    public func retry(_ job: JobID, attempts: Int = 1) async throws {
        guard let s = try ledger.state(of: job) else {
            throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .queued, rule: .unknownJob))
        }
        let requeue = EventPayload.queued(.init(kind: s.kind, input: s.input, priority: s.priority, maxAttempts: attempts))
        _ = try await ledger.append(NewEvent(job: job, payload: requeue, expectedVersion: s.version))
    }

    // MARK: - Queries

    /// The job's current state, from the log.
    public func state(of job: JobID) throws -> JobState? { try ledger.state(of: job) }

    /// The job's final state, or nil while it is queued or running.
    public func result(of job: JobID) throws -> JobState? {
        guard let s = try ledger.state(of: job), s.status.isTerminal else { return nil }
        return s
    }

    /// Waits until the job is completed, failed or canceled (by any worker, in any process)
    /// and returns its final state, checking the log every `pollInterval`.
    public func wait(for job: JobID, pollInterval: Duration = .milliseconds(20)) async throws -> JobState {
        while true {
            guard let s = try ledger.state(of: job) else {
                throw LedgerError.rejected(LifecycleError(job: job, state: nil, event: .queued, rule: .unknownJob))
            }
            if s.status.isTerminal { return s }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// Every job in the log in a given state and/or of a given kind, oldest first.
    public func jobs(status: JobStatus? = nil, kind: String? = nil) throws -> [JobState] {
        try ledger.jobStates().values
            .filter { (status == nil || $0.status == status) && (kind == nil || $0.kind == kind) }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Jobs in flight (queued or running) as this engine last folded them, optionally of one
    /// state and kind.
    public func activeJobs(status: JobStatus? = nil, kind: String? = nil) -> [JobState] {
        refresh()
        return state.withLock { s in
            s.fold.active.values.filter { (status == nil || $0.status == status) && (kind == nil || $0.kind == kind) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    // MARK: - Working

    /// One round of work, for tests and `--until-idle` loops: read the log's new events,
    /// requeue jobs whose lease expired, claim every job that may run now (within the
    /// concurrency limits), and wait until those attempts have finished. Returns how many
    /// attempts it ran.
    @discardableResult
    public func tick() async throws -> Int {
        let tasks = try await claimAndStart()
        for t in tasks { await t.value }
        return tasks.count
    }

    /// Works until cancelled (or, with `untilIdle`, until no job is queued or running):
    /// claims jobs as slots free up, polling the log every `pollInterval` when idle.
    public func run(untilIdle: Bool = false, pollInterval: Duration = .milliseconds(50)) async throws {
        while !Task.isCancelled && !state.withLock({ $0.draining }) {
            let started = try await claimAndStart()
            if state.withLock({ $0.running.count >= options.concurrency }) {
                await waitForSlot()
                continue
            }
            if started.isEmpty {
                // Idle: nothing this engine could run is queued, delayed or running.
                let kinds = state.withLock { Set($0.registrations.keys) }
                if untilIdle, !activeJobs().contains(where: { kinds.contains($0.kind) }), state.withLock({ $0.running.isEmpty }) { return }
                try? await Task.sleep(for: pollInterval)
            }
        }
        // Stopped (shutdown or cancellation): return once the attempts in flight have ended.
        for t in state.withLock({ $0.running.values.map(\.task) }) { await t.value }
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
    func refresh() {
        // Read outside the engine's lock (a read can take a while; handlers reporting progress
        // must not wait for it), then fold under it whatever no concurrent refresh folded yet.
        // Page by page, so a long backlog (an engine starting on a big log) stays in bounded memory.
        var from = state.withLock { $0.fold.lastSeq } + 1
        while true {
            guard let events = try? ledger.page(from: from, limit: 4096), let last = events.last else { return }
            state.withLock { s in
                for e in events where e.seq > s.fold.lastSeq { _ = try? s.fold.apply(e) }
            }
            if events.count < 4096 { return }
            from = last.seq + 1
        }
    }

    /// Up to `limit` jobs that may start now, best first: highest priority, then oldest. One
    /// pass over the jobs in flight keeping only the best `limit` (a deep queue costs a scan per
    /// round, not a sort of every queued job's whole state).
    func claimable(now: Timestamp, s: State, limit: Int) -> [JobState] {
        guard limit > 0 else { return [] }
        var perKind: [String: Int] = [:]
        for (_, r) in s.running { perKind[r.kind, default: 0] += 1 }
        var room: [String: Int] = [:]
        for (kind, r) in s.registrations { if let cap = r.concurrency { room[kind] = max(0, cap - perKind[kind, default: 0]) } }
        let eligible = s.fold.active.lazy
            .filter { id, j in j.status == .queued && j.runAt <= now && s.running[id] == nil && s.registrations[j.kind] != nil }
            .map { id, j in ClaimCandidate(priority: j.priority, createdAt: j.createdAt, id: id, kind: j.kind) }
        return Self.selectBest(eligible, room: room, limit: limit).compactMap { s.fold.active[$0.id] }
    }

    /// What the claim order looks at of a queued job.
    struct ClaimCandidate: Comparable {
        let priority: Int, createdAt: Timestamp, id: JobID, kind: String
        /// "Better" sorts first: higher priority, then older, then lower id.
        static func < (a: ClaimCandidate, b: ClaimCandidate) -> Bool {
            a.priority != b.priority ? a.priority > b.priority : (a.createdAt, a.id) < (b.createdAt, b.id)
        }
    }

    /// The best `limit` candidates, best first, taking at most `room[kind]` of a capped kind:
    /// the same as sorting them all and taking greedily, in one pass that keeps `limit`. A
    /// kind with no room left is skipped, and a kind never holds more places than it has room,
    /// so it never crowds the others out.
    static func selectBest<S: Sequence>(_ candidates: S, room: [String: Int], limit: Int) -> [ClaimCandidate] where S.Element == ClaimCandidate {
        guard limit > 0 else { return [] }
        var best: [ClaimCandidate] = []  // sorted, at most `limit`
        best.reserveCapacity(limit + 1)
        var held: [String: Int] = [:]  // places among `best`, per capped kind
        for k in candidates {
            if best.count == limit, let last = best.last, !(k < last) { continue }
            if let r = room[k.kind] {
                let h = held[k.kind, default: 0]
                if h >= r {
                    // Full: it may only replace a worse job of its own kind.
                    guard let worst = best.lastIndex(where: { $0.kind == k.kind }), k < best[worst] else { continue }
                    best.remove(at: worst)
                    held[k.kind] = h - 1
                }
            }
            best.insert(k, at: best.partitioningIndex { !($0 < k) })
            if room[k.kind] != nil { held[k.kind, default: 0] += 1 }
            if best.count > limit {
                let dropped = best.removeLast()
                if room[dropped.kind] != nil { held[dropped.kind, default: 0] -= 1 }
            }
        }
        return best
    }

    /// Graceful shutdown: claim nothing more, let running handlers finish for up to `drain`,
    /// then cancel the rest. A handler cancelled this way is recorded as a retryable
    /// `worker_shutdown` failure, so another worker picks the job up.
    public func shutdown(drain: Duration) async {
        let tasks = state.withLock { s in
            s.draining = true
            return s.running.values.map(\.task)
        }
        let deadline = ContinuousClock.now.advanced(by: drain)
        while state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for t in state.withLock({ $0.running.values.map(\.task) }) { t.cancel() }
        for t in tasks { await t.value }
    }

    /// Attempts running in this engine now.
    public var runningCount: Int { state.withLock { $0.running.count } }

    private func claimAndStart() async throws -> [Task<Void, Never>] {
        if state.withLock({ $0.draining }) { return [] }
        refresh()
        if await sweepExpiredLeases() { refresh() }
        let now = clock.now()
        let chosen = state.withLock { s in claimable(now: now, s: s, limit: options.concurrency - s.running.count) }
        // Claim concurrently, so the claims share group-committed transactions; each one
        // succeeds or loses its race on its own.
        let claimed: [(JobState, Int)] = try await withThrowingTaskGroup(of: (JobState, Int)?.self) { group in
            for job in chosen {
                group.addTask {
                    let attempt = job.attempt + 1
                    let lease = self.clock.now().adding(milliseconds: self.options.leaseMilliseconds)
                    do {
                        _ = try await self.ledger.append(NewEvent(job: job.id, payload: .started(.init(
                            worker: self.options.workerID, attempt: attempt, leaseDeadline: lease)), expectedVersion: job.version))
                        return (job, attempt)
                    } catch let e as LedgerError where e.isLostRace {
                        return nil  // another worker claimed it (or it was canceled) first
                    } catch {
                        // Busy or storage trouble: skip this claim this round; the others stand.
                        self.log(job.id).warning("claim failed: \(error)")
                        return nil
                    }
                }
            }
            var won: [(JobState, Int)] = []
            for try await r in group { if let r { won.append(r) } }
            return won
        }
        var tasks: [Task<Void, Never>] = []
        for (job, attempt) in claimed {
            count("started", kind: job.kind)
            time("queue_wait", kind: job.kind, milliseconds: now.milliseconds - job.runAt.milliseconds)
            log(job.id).debug("claimed", metadata: ["attempt": "\(attempt)", "worker": "\(options.workerID)"])
            guard let registration = state.withLock({ $0.registrations[job.kind] }) else { continue }
            let context = JobContext(job: job.id, kind: job.kind, input: job.input, attempt: attempt, maxAttempts: job.maxAttempts, engine: self)
            // Registered under the lock before the attempt can finish and deregister itself.
            let task = state.withLock { s in
                let t = Task { await self.runAttempt(context, registration: registration) }
                s.running[job.id] = (job.kind, t)
                return t
            }
            tasks.append(task)
        }
        return tasks
    }

    /// Requeues (or fails, when attempts are used up) running jobs whose lease has passed and
    /// that no attempt in this engine is running: their worker died or lost contact.
    private func sweepExpiredLeases() async -> Bool {
        let now = clock.now()
        let expired = state.withLock { s in
            s.fold.active.values.filter { $0.status == .running && ($0.leaseDeadline ?? .init(milliseconds: .max)) < now && s.running[$0.id] == nil }
        }
        var swept = false
        for job in expired {
            let failure = EventPayload.failed(.init(
                code: "lease_expired",
                message: "worker \(job.worker ?? "?") did not renew its lease (deadline \(job.leaseDeadline?.iso8601 ?? "?"))",
                retryable: true, attempt: job.attempt, retryAt: now))
            do {
                _ = try await ledger.append(NewEvent(job: job.id, payload: failure, expectedVersion: job.version))
            } catch {
                if !error.isLostRace {  // a lost race means the worker was alive after all, or someone else swept it
                    log(job.id).warning("could not requeue an expired lease this round: \(error)")
                }
                continue
            }
            swept = true
            log(job.id).warning("lease expired; requeued or failed", metadata: ["worker": "\(job.worker ?? "?")", "attempt": "\(job.attempt)"])
        }
        return swept
    }

    // MARK: - One attempt

    private func runAttempt(_ context: JobContext, registration: Registration) async {
        let began = clock.now()
        defer { time("run_time", kind: context.kind, milliseconds: clock.now().milliseconds - began.milliseconds) }
        let logger = log(context.job)
        let outcome: Result<JobCompletion, any Error>
        do { outcome = .success(try await registration.handler(context)) } catch { outcome = .failure(error) }
        let (cancelReason, draining) = state.withLock { s in (s.canceling[context.job], s.draining) }
        let canceled = cancelReason != nil
        do {
            if !canceled, draining, case .failure = outcome, Task.isCancelled {
                _ = try await ledger.append(NewEvent(job: context.job, payload: .failed(.init(
                    code: "worker_shutdown", message: "worker \(options.workerID) shut down before the attempt finished",
                    retryable: true, attempt: context.attempt, retryAt: clock.now()))))
                count("retried", kind: context.kind)
                logger.notice("interrupted by shutdown; requeued", metadata: ["attempt": "\(context.attempt)"])
            } else if canceled {
                _ = try await ledger.append(NewEvent(job: context.job, payload: .canceled(.init(reason: cancelReason ?? "canceled while running"))))
                logger.info("canceled while running")
            } else {
                switch outcome {
                case .success(let completion):
                    var asset: AssetRef?
                    if let bytes = completion.bytes { asset = try await ledger.stageAsset(bytes, contentType: completion.contentType) }
                    _ = try await ledger.append(NewEvent(job: context.job, payload: .completed(.init(asset: asset, output: completion.output))))
                    count("completed", kind: context.kind)
                    logger.info("completed", metadata: ["attempt": "\(context.attempt)"])
                case .failure(let error):
                    let e = error as? JobError ?? JobError(code: "handler_error", message: String(describing: error), retryable: true)
                    let delay = state.withLock { registration.retry.delay(afterAttempt: context.attempt, using: &$0.random) }
                    _ = try await ledger.append(NewEvent(job: context.job, payload: .failed(.init(
                        code: e.code, message: e.message, retryable: e.retryable, attempt: context.attempt,
                        retryAt: clock.now().adding(milliseconds: delay)))))
                    let requeued = e.retryable && context.attempt < context.maxAttempts  // the lifecycle's rule
                    count(requeued ? "retried" : "failed", kind: context.kind)
                    logger.log(level: requeued ? .info : .warning, "attempt failed\(requeued ? "; will retry" : " for good")",
                               metadata: ["attempt": "\(context.attempt)", "code": "\(e.code)", "error": "\(e.message)"])
                }
            }
        } catch {
            // The job moved on without us (canceled elsewhere, or requeued after a lost lease):
            // the log already says what happened, and our late event was refused.
            logger.notice("outcome not recorded: \(error)")
        }
        let waiter = state.withLock { s in
            s.running[context.job] = nil
            s.canceling[context.job] = nil
            defer { s.slotWaiter = nil }
            return s.slotWaiter
        }
        waiter?.resume()
    }

    func recordProgress(job: JobID, fraction: Double, message: String?) async throws {
        let lease = clock.now().adding(milliseconds: options.leaseMilliseconds)
        _ = try await ledger.append(NewEvent(job: job, payload: .progress(.init(fraction: fraction, message: message, leaseDeadline: lease))))
    }
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
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await run(untilIdle: false)
        } onGracefulShutdown: {
            Task { await self.shutdown(drain: self.options.drainTimeout) }
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongsInSecondPartition`, for an array already
    /// partitioned by it (binary search).
    func partitioningIndex(where belongsInSecondPartition: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongsInSecondPartition(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
