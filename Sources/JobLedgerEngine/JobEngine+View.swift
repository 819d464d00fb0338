import JobLedger
import JobLedgerSQLite

/// Keeping the engine's view of the log (`EngineView`) up to date: its own appends folded as
/// they return, everyone else's read from the log, requeued dead letters read back.
extension JobEngine {
    /// Folds an event this engine appended into its view, without reading it back, while a
    /// work loop follows the log (see `State.following`).
    func folded(_ e: StoredEvent) {
        let now = clock.now()
        state.withLock { s in
            guard s.following > 0 else { return }
            s.view.fold(own: e, now: now)
        }
    }

    /// Reads the events appended since the last look by anyone else into the engine's view:
    /// only the gaps between the engine's own events (which it folded when their appends
    /// returned), a page of at most 4096 at a time, so a long backlog (an engine starting on a
    /// big log) stays in bounded memory. The read runs outside the engine's lock (handlers
    /// reporting progress must not wait for it). Returns the error that cut the read short (a
    /// transient one: no file descriptor left, a busy reader), nil when the view is current.
    @discardableResult
    func refresh() async -> LedgerError? {
        var cutShort: LedgerError?
        startFromSnapshot()
        let page = 4096
        // On a long backlog (a full page read while nothing of this engine's own waits), the
        // next two pages are read while one is folded: SQLite's side (decoding rows, taking
        // the queued jobs' fields out of their JSON) is the larger part of an engine's start,
        // and this way it runs on two connections beside the fold.
        var ahead: [(from: Int64, read: Task<Result<[EngineEvent], LedgerError>, Never>)] = []
        defer { for a in ahead { a.read.cancel() } }
        pages: while true {
            let (from, gap) = state.withLock { ($0.view.lastSeq + 1, $0.view.readLimit) }
            let limit = Int(min(gap ?? Int64(page), Int64(page)))
            guard limit > 0 else { break }
            let read: Result<[EngineEvent], LedgerError>
            if let next = ahead.first, next.from == from {
                ahead.removeFirst()
                read = await next.read.value
            } else {
                for a in ahead { a.read.cancel() }
                ahead = []
                // On this thread: usually few events or none, and a hop to a reader queue and
                // back would cost more than the read.
                do { read = .success(try ledger.enginePageNow(from: from, limit: limit)) } catch { read = .failure(error) }
            }
            let events: [EngineEvent]
            switch read {
            case .success(let e): events = e
            case .failure(let error):
                if error.makesTheLogUnreadable { state.withLock { $0.unreadable = error } }
                cutShort = error
                break pages  // otherwise transient: read again next round
            }
            if events.count == page, gap == nil, let last = events.last {
                var next = ahead.last.map { $0.from + Int64(page) } ?? last.seq + 1
                while ahead.count < 2 {
                    let ledger = self.ledger, start = next
                    ahead.append((start, Task { await Self.readPage(ledger, from: start, limit: page) }))
                    next += Int64(page)
                }
            }
            let now = clock.now()
            state.withLock { $0.view.fold(read: events, now: now) }
            if events.count < limit { break }
        }
        snapshotWhenDue()
        // Dead letters requeued: their state comes from the log.
        for job in state.withLock({ $0.view.unresolved }) {
            let found: JobState?
            do { found = try await ledger.state(of: job) } catch {
                if error.makesTheLogUnreadable { state.withLock { $0.unreadable = error } }
                cutShort = error
                continue  // otherwise tried again next round
            }
            let now = clock.now()
            state.withLock { $0.view.adopt(found, job: job, now: now) }
        }
        return cutShort
    }

    private static func readPage(_ ledger: Ledger, from seq: Int64, limit: Int) async -> Result<[EngineEvent], LedgerError> {
        do { return .success(try await ledger.enginePage(from: seq, limit: limit)) } catch { return .failure(error) }
    }

    /// Whether any job of these kinds is queued (delayed ones included) or running, here or
    /// elsewhere, as of a fresh look at the log; nil when the look was cut short (the error is
    /// kept in `lastReadFailure` until a look succeeds). Nil is not "idle": a run until idle must
    /// not end on a view it failed to bring up to date (with few file descriptors left,
    /// `work --until-idle` once ended at once, exit 0, its jobs all queued).
    func jobsInFlight(of kinds: Set<String>) async -> Bool? {
        let failure = await refresh()
        return state.withLock { s in
            s.lastReadFailure = failure
            if failure != nil { return nil }
            return !s.view.unresolved.isEmpty || kinds.contains { s.view.inFlight($0) > 0 }
        }
    }

    /// After a look cut short, in a run until idle: the first failed look of a run of them is
    /// said once (`since` is when it began); the run is given up with the error once the looks
    /// have failed for longer than the storage bound.
    func lookFailed(since: inout ContinuousClock.Instant?) throws {
        let error = state.withLock { $0.lastReadFailure }
        if since == nil, let error { options.logger.warning("cannot tell whether jobs are left: reading the log failed, trying again: \(error)") }
        let began = since ?? .now
        since = began
        if let bound = options.storageFaults.giveUpAfter, ContinuousClock.now - began > bound, let error { throw error }
    }
}
