import JobLedger
import JobLedgerSQLite
import Synchronization
import ServiceLifecycle

/// Working: rounds of claims (`tick`), the loops behind `work`, `workUntilIdle` and `run`, and
/// graceful shutdown.
extension JobEngine {
    /// One round of work, for tests: read the log's new events,
    /// requeue jobs whose lease expired, claim every job that may run now (within the
    /// concurrency limits), and wait until those attempts have finished. Returns how many
    /// attempts it ran. Throws `InvalidEngineOptions` before anything else for options an engine
    /// cannot work with (`Options.validate()`, and a kind registered with a `concurrency` below 1
    /// or a `timeout` that is not positive). With a `ManualClock`, nothing waits on the wall clock:
    ///
    /// ```swift
    /// try await engine.tick()                  // runs what is due; a retryable failure is requeued
    /// clock.advance(milliseconds: 5_000)       // past the retry time
    /// try await engine.tick()                  // the second attempt
    /// ```
    @discardableResult
    public func tick() async throws -> Int {
        try checkWorkable()
        state.withLock { $0.following += 1 }
        defer { state.withLock { $0.following -= 1 } }
        let tasks = try await claimAndStart()
        for t in tasks { await t.value }
        return tasks.count
    }

    /// Works until the calling task is cancelled or `shutdown(drain:)` is called: claims jobs as
    /// slots free up, polling the log every `pollInterval` when idle, and returns once the
    /// attempts in flight have ended. Cancelled, it cancels the running handlers too (each sees
    /// `JobContext.isCancelled`; one that ends so gives its attempt back as a retryable
    /// `worker_shutdown` failure) and waits at most `Options.cancelGrace` for them. Throws
    /// `LedgerError.closed` when its ledger is closed under it. The loop behind `run()`, without
    /// its signal handling: call it from your own task, or use `run()` in a
    /// swift-service-lifecycle `ServiceGroup`. Throws
    /// `InvalidEngineOptions` at once for options an engine cannot work with (`Options.validate()`).
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
    /// Throws `InvalidEngineOptions` at once, like `work(pollInterval:)`, for options it cannot work with.
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
        try checkWorkable()
        // A shut-down engine claims nothing again: said, rather than returning at once as if
        // there were no work (a caller reusing it saw its jobs stay queued without a word).
        if state.withLock({ $0.shutDown }) {
            options.logger.warning("\(untilIdle ? "workUntilIdle()" : "work()") on an engine that was shut down: it claims nothing and returns at once; make a new JobEngine to work again")
        }
        state.withLock { s in
            if !s.draining { s.abandoning = false }  // an engine working again waits faults out again
            s.following += 1
        }
        defer { state.withLock { $0.following -= 1 } }
        var unreadSince: ContinuousClock.Instant?
        loop: while !Task.isCancelled && !state.withLock({ $0.draining }) {
            // A storage fault: nothing is tried before the next try is due (the number of tries
            // grows with the backoff, not with time), and a run with a bound gives up past it.
            if let fault = storage.outlasted() { try await giveUp(fault) }
            if !storage.mayTry() {
                await storage.waitForNextTry(limit: timeUntilGiveUp())
                continue
            }
            await gatherFreedSlots()
            let started = try await claimAndStart()
            if !started.isEmpty { unreadSince = nil }  // the log was read: any earlier failed look is over
            if state.withLock({ $0.running.count >= options.concurrency }) {
                // With a bound, look again at least every second: a fault may begin meanwhile.
                await waitForSlot(limit: timeUntilGiveUp() ?? options.storageFaults.giveUpAfter.map { min($0, .seconds(1)) })
                continue
            }
            if started.isEmpty {
                // A try failed this round: wait for the next one. (Due with nothing to try, it
                // polls like an idle engine.)
                if !storage.mayTry() { continue }
                // Idle: nothing this engine could run is queued, delayed or running.
                let kinds = state.withLock { Set($0.registrations.keys) }
                if untilIdle, state.withLock({ $0.running.isEmpty }) {
                    switch await jobsInFlight(of: kinds) {
                    case false?:
                        unreadSince = nil
                        if state.withLock({ $0.running.isEmpty }) { break loop }
                    case nil:
                        // The log could not be read: not known to be idle; tried again every poll.
                        try lookFailed(since: &unreadSince)
                    case true?:
                        unreadSince = nil
                    }
                } else if untilIdle {
                    unreadSince = nil  // attempts running: this round's claim read the log
                }
                try? await Task.sleep(for: pollInterval)
            }
        }
        // Stopped (shutdown or cancellation): return once the attempts in flight have ended.
        // Cancelled, it does not wait out a storage fault for them: what they cannot record is
        // left to the lease sweep.
        if Task.isCancelled {
            state.withLock { $0.abandoning = true }
            storage.wake()
        }
        let (running, draining) = state.withLock { s in (s.running.values.compactMap(\.task), s.draining) }
        if draining {
            // A shutdown: it gives the handlers their drain time, cancels the rest and waits out
            // the grace; returning before it has would end a process (`work`, `serve`) in the
            // middle of its drain, the jobs left running until their leases pass.
            while !state.withLock({ $0.shutDown }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
            if Task.isCancelled { await awaitAttempts(running, limit: options.cancelGrace) }
        } else if Task.isCancelled {
            // Cancelled (its task, or its service group stopping): the handlers are cancelled
            // too, each seeing `isCancelled`, and each that ends so gives its attempt back
            // (`worker_shutdown`), as a shutdown with no drain time would; it waits for them at
            // most the cancel grace. (It waited for them as long as they took: a handler that
            // ignored the cancellation held a stopping service group for as long as it ran.)
            state.withLock { $0.interrupting += 1 }
            for t in running { t.cancel() }
            await awaitAttempts(running, limit: options.cancelGrace)
            state.withLock { $0.interrupting -= 1 }
        } else {
            await awaitAttempts(running, limit: nil)
        }
        let unrecorded = unrecordedSummary()
        if !unrecorded.isEmpty { options.logger.error("stopped during a storage fault\(unrecorded)") }
        await snapshotNow()
    }

    /// Waits for attempt tasks to end, for at most `limit` (nil: however long they take). Those
    /// still running then are named in an error line and left: a task cannot be stopped from
    /// outside, and their jobs are taken up again once their leases pass.
    func awaitAttempts(_ tasks: [Task<Void, Never>], limit: Duration?) async {
        guard !tasks.isEmpty else { return }
        guard let limit else {
            for t in tasks { await t.value }
            return
        }
        let first = FirstAnswer()
        let allEnded = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            first.wait(c)
            // Unstructured, both: waiting for a task's value cannot be cancelled, so neither wait
            // may be a child that the other's end would have to wait for.
            Task { for t in tasks { await t.value }; first.answer(true) }
            Task { try? await Task.sleep(for: limit); first.answer(false) }
        }
        guard !allEnded else { return }
        // Given up: whatever these handlers report or return later is not recorded (it was: a
        // handler that returned after the shutdown had returned wrote `completed` into a log its
        // app may have closed, past its lease). A handler that has returned and is recording
        // its outcome is left to finish that.
        let stuck = state.withLock { s -> [String] in
            var given: [String] = []
            for (job, r) in s.running where r.lost == nil && !r.returned && !r.recording {
                s.running[job]!.lost = Self.givenUpAtShutdown
                given.append(job.rawValue)
            }
            return given.sorted()
        }
        guard !stuck.isEmpty else { return }
        let text = "\(stuck.count) handler\(stuck.count == 1 ? "" : "s") did not end within \(options.cancelGrace) of being cancelled "
            + "(\(stuck.prefix(5).joined(separator: ", "))\(stuck.count > 5 ? ", …" : "")); going on without them: "
            + "their jobs stay running until their leases pass, and whatever they report or return later is not recorded"
        options.logger.error("\(text)")
    }

    /// Why an attempt whose handler outlasted the shutdown's grace records nothing more.
    static let givenUpAtShutdown = "the engine shut down and gave up on it (it ignored the cancellation past the cancel grace)"

    /// Before a claim round: attempts finish in bursts (one commit resumes many of them), so
    /// the ones already resumed get a few turns of the thread to fold their outcome in and free
    /// their slot, until an eighth of the slots (at least one) is free or `gatherTurns` turns
    /// have passed. The round then claims for them all in one transaction and reads fewer of
    /// their events back from the log (a burn-down's time, 0.95×). Turns, not time: with nothing
    /// else to run, a yield returns at once, so an engine of long jobs claims as soon as a
    /// slot frees.
    private func gatherFreedSlots() async {
        let wanted = max(1, options.concurrency / 8)
        var turns = 0
        repeat {
            await Task.yield()
            turns += 1
        } while turns < Self.gatherTurns && state.withLock({ $0.running.count > options.concurrency - wanted })
    }

    /// The most turns `gatherFreedSlots` gives attempts before a claim round.
    static let gatherTurns = 8

    /// Suspends until a running attempt finishes (returns at once if a slot is free), or `limit`
    /// has passed.
    private func waitForSlot(limit: Duration? = nil) async {
        while true {
            let seen = slotFreed.generation
            if state.withLock({ $0.running.count < options.concurrency }) { return }
            if let limit {
                await slotFreed.wait(after: seen, timeout: limit)
                return
            }
            await slotFreed.wait(after: seen)
            if Task.isCancelled { return }
        }
    }

    /// Graceful shutdown: claim nothing more, let running handlers finish for up to `drain`,
    /// then cancel the rest. A handler cancelled this way is recorded as a retryable
    /// `worker_shutdown` failure, so another worker picks the job up. `run()` calls it when its
    /// service group shuts down; `work()` and `workUntilIdle()` return once it has. A shut-down
    /// engine is done: it still submits and reads, but claims nothing again (working it logs a
    /// warning and returns); make a new `JobEngine` to work again.
    ///
    /// ```swift
    /// await engine.shutdown(drain: .seconds(10))
    /// ```
    public func shutdown(drain: Duration) async {
        let tasks = state.withLock { s in
            s.draining = true
            return s.running.values.compactMap(\.task)
        }
        // Outcomes waiting out a storage fault try again now, and often while the drain lasts
        // (`AttemptRunner.persist`): the fault may have cleared long before the backoff's next
        // try, and an outcome left unwritten makes its job wait for its lease and run again.
        storage.wake()
        let deadline = ContinuousClock.now.advanced(by: drain)
        while state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Past the drain time, outcomes that a storage fault keeps from being written are left
        // to the lease sweep instead of holding the shutdown up.
        let late = state.withLock { s in
            if !s.running.isEmpty { s.abandoning = true }
            return s.running.values.compactMap(\.task)
        }
        storage.wake()
        for t in late { t.cancel() }
        await awaitAttempts(tasks, limit: options.cancelGrace)
        let unrecorded = unrecordedSummary()
        if !unrecorded.isEmpty { options.logger.error("shut down during a storage fault\(unrecorded)") }
        state.withLock { $0.shutDown = true }
    }

    private func claimAndStart() async throws -> [Task<Void, Never>] {
        if state.withLock({ $0.draining }) { return [] }
        // During a storage fault a round runs only when the next try is due, and tries one
        // write: a sweep, else a single claim. A write that fails ends the round.
        guard storage.mayTry() else { return [] }
        let probing = storage.current
        guard checkFile(probing: probing?.fault) else {
            if let unreadable = state.withLock({ $0.unreadable }) { throw unreadable }
            return []
        }
        await refresh()
        if let unreadable = state.withLock({ $0.unreadable }) { throw unreadable }
        noticeLostClaims()
        noticeJobsWaitingOnTheClock()
        if await sweepExpiredLeases() { await refresh() }
        guard storage.mayTry() else { return [] }
        await pruneOrphanAssetsWhenDue()
        guard storage.mayTry() else { return [] }
        let now = clock.now()
        let entries = state.withLock { s in claimable(now: now, s: &s, limit: min(probing != nil ? 1 : .max, options.concurrency - s.running.count)) }
        if entries.isEmpty { return [] }
        // The view keeps queued jobs without their state: read the chosen ones' (one read). A
        // job that moved on meanwhile is left out; the next refresh tells the view.
        let loaded: [JobID: JobState]
        do {
            loaded = try ledger.statesNow(of: entries.map(\.id))
        } catch {
            if error.makesTheLogUnreadable {
                state.withLock { $0.unreadable = error }
                throw error
            }
            if !noteStorageFault(error, during: "reading the jobs to claim") { options.logger.warning("could not read the jobs to claim: \(error)") }
            state.withLock { s in for e in entries { s.view.putBack(e, now: now) } }
            return []
        }
        let chosen = entries.compactMap { e in loaded[e.id].flatMap { $0.status == .queued && $0.version == e.version ? $0 : nil } }
        let entryOf = Dictionary(entries.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        state.withLock { $0.view.claiming(chosen) }
        // One transaction claims them all (when nobody else is committing); each claim succeeds
        // or loses its race on its own.
        let lease = clock.now().adding(milliseconds: options.leaseMilliseconds)
        let results = chosen.isEmpty ? [] : await ledger.appendEach(chosen.map { job in
            NewEvent(job: job.id, payload: .started(.init(worker: options.workerID, attempt: job.attempt + 1, leaseDeadline: lease)),
                     expectedVersion: job.version)
        }, knownStates: loaded)
        var claimed: [Claim] = []
        var putBack: [ClaimQueue.Entry] = []
        for (job, result) in zip(chosen, results) {
            switch result {
            case .success(let started):
                folded(started)
                claimed.append(Claim(job: job, attempt: job.attempt + 1, leaseDeadline: lease, seq: started.seq))
            case .failure(let e) where e.isLostRace:
                continue  // another worker claimed it (or it was canceled) first
            case .failure(let e) where noteStorageFault(e, during: "claiming jobs"):
                putBack.append(entryOf[job.id]!)  // said once for the whole episode; the job stays queued
            case .failure(let e):
                // Busy or storage trouble: skip this claim this round; the others stand. A
                // claim cut short because the engine's task is cancelled (its service group
                // stopping) is neither, and says nothing.
                if !Task.isCancelled { log(job.id).warning("claim failed: \(e)") }
                putBack.append(entryOf[job.id]!)
            }
        }
        if !claimed.isEmpty { storage.succeeded() }
        if !putBack.isEmpty {
            let now = clock.now()
            state.withLock { s in for e in putBack { s.view.putBack(e, now: now) } }
        }
        var tasks: [Task<Void, Never>] = []
        for claim in claimed {
            let job = claim.job, attempt = claim.attempt
            count("started", kind: job.kind)
            // From when the job became runnable: a `run_at` in the past (any caller may give one)
            // made it runnable when it was queued (its last event: the queued, the failure that
            // requeued it, a requeue), not years before.
            time("queue_wait", kind: job.kind, milliseconds: now.milliseconds - max(job.runAt, job.updatedAt).milliseconds)
            log(job.id, .debug, "claimed", metadata: ["attempt": "\(attempt)", "worker": "\(options.workerID)"])
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

extension LedgerError {
    /// A stored event this build cannot decode or fold (a payload an earlier build let through,
    /// an illegal sequence), or a ledger closed under the engine (`Ledger.close()`): reading
    /// again will not help, so the engine stops with it.
    var makesTheLogUnreadable: Bool {
        switch self {
        case .invalidPayload, .invalidJobID, .rejected, .payloadTooLarge, .closed: true
        default: false
        }
    }

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

/// Resumes one waiter with the first of several answers; later answers are dropped.
private final class FirstAnswer: Sendable {
    private let waiter = Mutex<CheckedContinuation<Bool, Never>?>(nil)
    func wait(_ c: CheckedContinuation<Bool, Never>) { waiter.withLock { $0 = c } }
    func answer(_ value: Bool) { waiter.withLock { $0.take() }?.resume(returning: value) }
}
