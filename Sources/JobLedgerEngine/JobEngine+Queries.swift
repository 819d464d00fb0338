import JobLedger
import JobLedgerSQLite

/// Reading jobs back: one job's state or result, waiting for it to finish, and the jobs in the log
/// or in flight.
extension JobEngine {
    /// The job's current state, folded from its events in the log (so it is up to date with
    /// every engine and process writing to it); nil when no such job exists.
    ///
    /// ```swift
    /// if let s = try engine.state(of: job), s.status == .running {
    ///     print("attempt \(s.attempt), \(Int(s.progress * 100))% \(s.progressMessage ?? "")")
    /// }
    /// ```
    public func state(of job: JobID) throws -> JobState? { try ledger.state(of: job) }

    /// The job's history: every event recorded for it, oldest first, as the log stores it (its
    /// `seq`, version, time, payload and hash); empty when no such job exists. `ledger.verify()`
    /// says whether the chain they are part of is intact.
    ///
    /// ```swift
    /// for e in try engine.history(of: job) {
    ///     print(e.version, e.recordedAt, e.type, e.payload)   // 1 … queued, 2 … started, …
    /// }
    /// ```
    public func history(of job: JobID) throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        try ledger.forEachEvent(of: job) { events.append($0) }
        return events
    }

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
    /// and returns its final state, checking the log every `pollInterval`. With a `timeout`, it
    /// gives up once that much time has passed on the engine's clock (`clock`: a `ManualClock`
    /// in tests) and throws `WaitTimeout`, saying where the job was; only the wait ends, not the
    /// job. A timeout of zero looks once. Throws `LedgerError.rejected` (`unknownJob`, as
    /// `LifecycleError.noSuchJob(_:)`: "job … does not exist") for an unknown job, and
    /// `CancellationError` when the waiting task is cancelled. Some engine
    /// must be working meanwhile.
    ///
    /// ```swift
    /// let job = try await engine.submit(kind: "design", input: ["prompt": "a cat"])
    /// let final = try await engine.wait(for: job)                           // however long it takes
    /// let soon = try await engine.wait(for: job, timeout: .seconds(30))     // or WaitTimeout
    /// print(final.status, final.lastError?.description ?? "")
    /// ```
    public func wait(for job: JobID, timeout: Duration? = nil, pollInterval: Duration = .milliseconds(20)) async throws -> JobState {
        let deadline = timeout.map { clock.now().adding(milliseconds: Self.milliseconds($0)) }
        while true {
            guard let s = try await ledger.state(of: job) else {
                throw LedgerError.rejected(.noSuchJob(job))
            }
            if s.status.isTerminal { return s }
            guard let deadline, let timeout else {
                try await Task.sleep(for: pollInterval)
                continue
            }
            let left = deadline.milliseconds(since: clock.now())
            if left <= 0 { throw WaitTimeout(job: job, timeout: timeout, status: s.status) }
            try await Task.sleep(for: min(pollInterval, .milliseconds(left)))
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
    /// state and kind, oldest first.
    /// The queued ones' states are read from the log (the view keeps them without); one that
    /// cannot be read is left out.
    public func activeJobs(status: JobStatus? = nil, kind: String? = nil) async -> [JobState] {
        await refresh()
        let (queuedIDs, running) = state.withLock { s in
            (status == nil || status == .queued ? s.view.queued.ids { kind == nil || s.view.kind(of: $0) == kind } : [],
             status == nil || status == .running ? s.view.running.values.filter { kind == nil || $0.kind == kind } : [])
        }
        let queued = queuedIDs.isEmpty ? [] : ((try? await ledger.states(of: queuedIDs)) ?? [:]).values.filter { $0.status == .queued }
        return (queued + running).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }
}
