import JobLedger
import JobLedgerSQLite

/// An engine's view of the jobs in flight, folded from the log: the queued and the running jobs
/// in full, the claim index over the queued ones, and how many of each kind are in flight. Jobs
/// that finish (completed, failed or canceled) leave it, so its memory follows the jobs in
/// flight, not the length of the log.
///
/// It is fed in `seq` order from two sides: pages read from the log (`fold(read:now:)`), and
/// the events this engine appended itself, as the append returned them (`fold(own:now:)`),
/// which are never read and decoded back. An own event that arrives before the events ahead of
/// it waits in `ahead`; the reader then reads only the gap before it (`readLimit`).
///
/// A failed job that is requeued (a dead letter) comes back with a `queued` event at a version
/// above 1 for a job the view no longer holds: the view lists it in `unresolved`, and the engine
/// reads its state from the log and hands it to `adopt(_:now:)`.
struct EngineView {
    private(set) var queued: [JobID: JobState] = [:]
    private(set) var running: [JobID: JobState] = [:]
    /// The `seq` of the last event folded.
    private(set) var lastSeq: Int64 = 0
    /// Jobs in flight (queued, delayed or running) per kind.
    private(set) var inFlight: [String: Int] = [:]
    /// Requeued jobs whose state must be read from the log.
    private(set) var unresolved: Set<JobID> = []
    private var index = ClaimQueue()
    /// Own events committed past `lastSeq + 1`, waiting for the events before them.
    private var ahead: [Int64: StoredEvent] = [:]

    /// A job in flight, queued or running.
    func state(of job: JobID) -> JobState? { queued[job] ?? running[job] }

    /// Jobs in flight.
    var count: Int { queued.count + running.count }

    /// How many events the next read may take from `lastSeq + 1`: up to the first own event
    /// already held, so that own events are never read back; nil when nothing is held.
    var readLimit: Int64? {
        guard let first = ahead.keys.min() else { return nil }
        return first - lastSeq - 1
    }

    /// Folds events read from the log, in `seq` order from `lastSeq + 1`; events already folded
    /// are skipped.
    mutating func fold(read events: [StoredEvent], now: Timestamp) {
        for e in events where e.seq == lastSeq + 1 { step(e, now: now) }
        drainAhead(now: now)
    }

    /// Folds an event this engine appended (as the append returned it): at once when it is the
    /// next one, else once the events before it have been read.
    mutating func fold(own e: StoredEvent, now: Timestamp) {
        guard e.seq > lastSeq else { return }
        if e.seq == lastSeq + 1 {
            step(e, now: now)
            drainAhead(now: now)
        } else {
            ahead[e.seq] = e
        }
    }

    /// Takes in the state of a requeued job read from the log (see `unresolved`).
    mutating func adopt(_ s: JobState?, job: JobID, now: Timestamp) {
        unresolved.remove(job)
        guard let s, state(of: job) == nil else { return }
        place(s, was: nil, now: now)
    }

    /// The best claimable jobs (see `ClaimQueue.take`): queued at the version indexed, due by
    /// `now`, and not `busy` (running in this engine).
    mutating func take(now: Timestamp, kinds: Set<String>, room: [String: Int], limit: Int, busy: (JobID) -> Bool) -> [JobState] {
        var index = self.index
        self.index = ClaimQueue()  // moved out, so the heaps are not copied while changed
        defer { self.index = index }
        let entries = index.take(now: now, kinds: kinds, room: room, limit: limit) { entry in
            guard let s = queued[entry.id], s.version == entry.version else { return .stale }
            return busy(entry.id) ? .notNow : .claimable
        }
        return entries.compactMap { queued[$0.id] }
    }

    /// Puts a job taken by `take` back in the index (its claim failed for a reason other than
    /// losing the job).
    mutating func putBack(_ job: JobID, now: Timestamp) {
        guard let s = queued[job] else { return }
        index.offer(Self.entry(s), now: now)
    }

    private mutating func drainAhead(now: Timestamp) {
        while let e = ahead.removeValue(forKey: lastSeq + 1) { step(e, now: now) }
        if !ahead.isEmpty { ahead = ahead.filter { $0.key > lastSeq } }
    }

    /// One event, the next in `seq` order.
    private mutating func step(_ e: StoredEvent, now: Timestamp) {
        lastSeq = e.seq
        let was = queued.removeValue(forKey: e.job) ?? running.removeValue(forKey: e.job)
        guard var s = was else {
            if e.version == 1, let s = try? Lifecycle.begin(job: e.job, with: e.payload, at: e.recordedAt) {
                place(s, was: nil, now: now)
            } else if case .queued = e.payload {
                unresolved.insert(e.job)  // a dead letter requeued: its state is in the log
            }
            // Anything else is an event of a job that finished, or of a requeued job whose state
            // is being read (it includes this event).
            return
        }
        // An event the state already includes (a requeued job's state read from the log), or
        // one the lifecycle refuses (the log accepted it, so never): kept as it was.
        guard e.version == s.version + 1, (try? s.apply(e.payload, at: e.recordedAt)) != nil else {
            place(was!, was: was, now: nil)
            return
        }
        place(s, was: was, now: now)
    }

    /// Files a job's new state; `now` nil re-files an unchanged state (no new index entry).
    private mutating func place(_ s: JobState, was: JobState?, now: Timestamp?) {
        if was == nil, !s.status.isTerminal { inFlight[s.kind, default: 0] += 1 }
        switch s.status {
        case .queued:
            queued[s.id] = s
            if let now { index.offer(Self.entry(s), now: now) }
        case .running:
            running[s.id] = s
        case .completed, .failed, .canceled:
            if was != nil { inFlight[s.kind, default: 1] -= 1 }
        }
        // Stale entries of jobs that moved on pile up only for kinds nobody here claims.
        if now != nil, index.count > 2 * queued.count + 4096 {
            var index = self.index
            self.index = ClaimQueue()
            index.compact { e in queued[e.id]?.version == e.version }
            self.index = index
        }
    }

    private static func entry(_ s: JobState) -> ClaimQueue.Entry {
        .init(candidate: .init(priority: s.priority, createdAt: s.createdAt, id: s.id, kind: s.kind), version: s.version, runAt: s.runAt)
    }
}
