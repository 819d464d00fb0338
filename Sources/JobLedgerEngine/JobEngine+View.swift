import JobLedger
import JobLedgerSQLite

/// Keeping the engine's view of the log (`EngineView`) up to date: its own appends folded as
/// they return, everyone else's read from the log, requeued dead letters read back.
extension JobEngine {
    /// Folds an event this engine appended into its view, without reading it back.
    func folded(_ e: StoredEvent) {
        let now = clock.now()
        state.withLock { $0.view.fold(own: e, now: now) }
    }

    /// Reads the events appended since the last look by anyone else into the engine's view:
    /// only the gaps between the engine's own events (which it folded when their appends
    /// returned), a page of at most 4096 at a time, so a long backlog (an engine starting on a
    /// big log) stays in bounded memory. The read runs outside the engine's lock (handlers
    /// reporting progress must not wait for it).
    func refresh() async {
        while true {
            let (from, gap) = state.withLock { ($0.view.lastSeq + 1, $0.view.readLimit) }
            let limit = Int(min(gap ?? 4096, 4096))
            guard limit > 0 else { break }
            let events: [EngineEvent]
            do { events = try await ledger.enginePage(from: from, limit: limit) } catch {
                if error.makesTheLogUnreadable { state.withLock { $0.unreadable = error } }
                break  // otherwise transient: read again next round
            }
            let now = clock.now()
            state.withLock { $0.view.fold(read: events, now: now) }
            if events.count < limit { break }
        }
        // Dead letters requeued: their state comes from the log.
        for job in state.withLock({ $0.view.unresolved }) {
            let found: JobState?
            do { found = try await ledger.state(of: job) } catch {
                if error.makesTheLogUnreadable { state.withLock { $0.unreadable = error } }
                continue  // otherwise tried again next round
            }
            let now = clock.now()
            state.withLock { $0.view.adopt(found, job: job, now: now) }
        }
    }

    /// Whether any job of these kinds is queued (delayed ones included) or running, here or
    /// elsewhere, as of a fresh look at the log.
    func hasJobsInFlight(of kinds: Set<String>) async -> Bool {
        await refresh()
        return state.withLock { s in !s.view.unresolved.isEmpty || kinds.contains { s.view.inFlight[$0, default: 0] > 0 } }
    }
}
