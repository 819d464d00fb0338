import JobLedger
import JobLedgerSQLite
import Logging
import Metrics
import Synchronization

/// The storage faults the server's own requests meet: a submit, cancel, retry or re-drive whose
/// write fails (a full disk, an I/O error, a log that became read-only or vanished), or a read
/// that fails so. The engine and the projections pause on the faults of their own writes; an
/// API-only node (`serve --workers 0`) has no engine loop, and a submit's append is not one of
/// those, so every submit was a 503 while `/readyz` said ready and nothing was logged.
///
/// Here a fault starts an episode as the engine's do (`StorageBackoff`): `/readyz` is 503 with
/// the fault's kind, the fault is logged once with its path and what to do (then a reminder at
/// most every `reminderInterval`, and one line when it has cleared), and it is counted
/// (`jobledger_storage_faults_total`, `jobledger_storage_paused`, `component` = `server`).
/// The node is ready again when a write succeeds: a request's, or the write `/readyz` tries
/// (`Ledger.probeWrite`) when the next try is due, after the policy's backoff (250 ms, doubling
/// up to 30 s by default), so a load balancer that stopped sending work still sees it recover.
/// Requests are not held back meanwhile: each is tried, and its own 503 says to try again.
final class StorageWatch: Sendable {
    private let state: Mutex<StorageBackoff>
    private let probing = Atomic<Bool>(false)
    private let now: @Sendable () -> Int64
    private let metrics: LedgerMetrics
    let policy: StorageFaultPolicy

    /// What the messages say is paused.
    static let paused = "this node's readiness (/readyz answers 503; each request that writes is still tried, and /readyz tries a write when the next try is due)"

    /// A watch with `policy`'s backoff on the clock `now` (milliseconds since 1970), counting to `metrics`.
    init(policy: StorageFaultPolicy, metrics: (any MetricsFactory)?, now: @escaping @Sendable () -> Int64) {
        self.policy = policy
        self.state = Mutex(StorageBackoff(policy: policy))
        self.now = now
        self.metrics = LedgerMetrics(component: "server", factory: metrics)
    }

    private var timestamp: Timestamp { Timestamp(milliseconds: now()) }

    /// A request met `fault` while `what` ("answering POST /api/design").
    func failed(_ fault: StorageFault, during what: String, logger: Logger) {
        let at = timestamp
        let (note, began) = state.withLock { s in
            let was = s.isPaused
            return (s.failed(fault, during: what, at: at), !was)
        }
        let observe = metrics.storageObserver(logger: logger)
        observe(.failedTry(fault))
        if began { observe(.paused(true)) }
        if let note { observe(.note(note, message: note.message(paused: Self.paused, policy: policy))) }
    }

    /// A write succeeded: ready again at once; the episode ends (and says so) once it has settled.
    func succeeded(logger: Logger) {
        let at = timestamp
        let (note, resumed) = state.withLock { s in
            let was = s.isPaused
            return (s.succeeded(at: at), was && !s.isPaused)
        }
        // Called after every submit that writes: nothing more to do unless an episode moved.
        guard resumed || note != nil else { return }
        let observe = metrics.storageObserver(logger: logger)
        if resumed { observe(.paused(false)) }
        if let note { observe(.note(note, message: note.message(paused: Self.paused, policy: policy))) }
    }

    /// The fault readiness waits out and since when; nil while writes go on. Ends a settled
    /// episode (saying so).
    func current(logger: Logger) -> (fault: StorageFault, since: Timestamp)? {
        let at = timestamp
        let (note, current) = state.withLock { s in
            let note = s.settle(at: at)
            return (note, s.isPaused ? s.fault.map { ($0, s.since) } : nil)
        }
        if let note { metrics.storageObserver(logger: logger)(.note(note, message: note.message(paused: Self.paused, policy: policy))) }
        return current
    }

    /// While paused and the next try is due, tries a write (`Ledger.probeWrite`) and notes what
    /// it found; one probe at a time (a concurrent caller does not wait for it).
    func probeIfDue(_ ledger: Ledger, logger: Logger) async {
        let at = timestamp
        guard state.withLock({ $0.isPaused && $0.mayTry(at: at) }) else { return }
        guard !probing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        defer { probing.store(false, ordering: .releasing) }
        do {
            try await ledger.probeWrite()
            succeeded(logger: logger)
        } catch {
            if let fault = error.storageFault {
                failed(fault, during: "trying a write for /readyz", logger: logger)
            } else {
                logger.warning("a write tried for /readyz failed: \(error)")
            }
        }
    }
}
