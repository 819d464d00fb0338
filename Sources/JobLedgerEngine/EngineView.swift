import JobLedger
import JobLedgerSQLite

/// An engine's view of the jobs in flight, folded from the log: the running jobs in full, the
/// queued ones as little as the claim index needs (their version and kind; the index holds their
/// priority, age and run-at), and how many of each kind are in flight. Jobs that finish leave it,
/// so its memory follows the jobs in flight, not the length of the log; a queued job costs tens of
/// bytes, not its whole state (its input, its last error …), which the engine reads from the log
/// for the few jobs it claims.
///
/// It is fed in `seq` order from two sides: pages read from the log (`fold(read:now:)`), and
/// the events this engine appended itself, as the append returned them (`fold(own:now:)`),
/// which are never read and decoded back. An own event that arrives before the events ahead of
/// it waits in `ahead`; the reader then reads only the gap before it (`readLimit`).
///
/// A job whose state the view does not hold turns up in `unresolved`, for the engine to read
/// from the log and hand to `adopt(_:job:now:)`: a queued job started by another engine, and a
/// failed job requeued (a dead letter: a `queued` event at a version above 1).
struct EngineView: Sendable {
    /// A queued job: the version it became queued at, and its kind (an index into `kinds`).
    struct Queued: Sendable {
        var version: Int32
        var kind: UInt32
    }

    private(set) var queued = QueuedJobs()
    private(set) var running: [JobID: JobState] = [:]
    /// The `seq` of the last event folded.
    private(set) var lastSeq: Int64 = 0
    /// Jobs in flight (queued, delayed or running) per kind (by its index in `kinds`),
    /// unresolved ones left out.
    private var inFlightByKind: [Int] = []
    /// Jobs whose state must be read from the log.
    private(set) var unresolved: Set<JobID> = []
    private var index = ClaimQueue()
    /// Own events committed past `lastSeq + 1`, waiting for the events before them.
    private var ahead: [Int64: StoredEvent] = [:]
    /// The states, read from the log, of the jobs this engine is claiming: their `started`
    /// events are folded onto them.
    private var claiming: [JobID: JobState] = [:]
    private var kinds: [String] = []
    private var kindIndex: [String: UInt32] = [:]
    /// The kind interned last: a backlog is mostly of one kind, and a string compare is
    /// cheaper than hashing it for every job.
    private var lastKind: (name: String, index: UInt32)?

    /// Jobs in flight the view holds.
    var count: Int { queued.count + running.count }

    /// Queued jobs that wait for nothing but this clock to reach the time they were queued at
    /// (no run-at or retry time of their own): queued by a clock more than `tolerance` ahead of
    /// this one, or before this clock was stepped back. How many, how far the furthest is
    /// ahead, and one of them; nil when there are none.
    func waitingOnTheClock(now: Timestamp, toleranceMilliseconds: Int64 = 1_000) -> (jobs: Int, aheadMilliseconds: Int64, example: JobID)? {
        var jobs = 0, ahead: Int64 = 0
        var example: JobID?
        index.forEachDelayed { e in
            let by = e.runAt.milliseconds - now.milliseconds
            guard e.runAt == e.candidate.createdAt, by > toleranceMilliseconds,
                  let q = queued[e.id], Int(q.version) == e.version else { return }
            jobs += 1
            if by > ahead { ahead = by; example = e.id }
        }
        return example.map { (jobs, ahead, $0) }
    }

    /// A queued job's kind.
    func kind(of job: Queued) -> String { kinds[Int(job.kind)] }

    /// Jobs of `kind` in flight (queued, delayed or running), unresolved ones left out.
    func inFlight(_ kind: String) -> Int {
        guard let i = kindIndex[kind], Int(i) < inFlightByKind.count else { return 0 }
        return inFlightByKind[Int(i)]
    }

    /// How many events the next read may take from `lastSeq + 1`: up to the first own event
    /// already held, so that own events are never read back; nil when nothing is held.
    var readLimit: Int64? {
        guard let first = ahead.keys.min() else { return nil }
        return first - lastSeq - 1
    }

    /// Folds events read from the log, in `seq` order from `lastSeq + 1`; events already folded
    /// are skipped.
    mutating func fold(read events: [EngineEvent], now: Timestamp) {
        for e in events where e.seq == lastSeq + 1 {
            switch e {
            case .event(let e):
                step(e, now: now)
            case .queued(let seq, let job, let kind, let priority, let runAt, let recordedAt):
                // A job's first event, as `Lifecycle.begin` would make it: created now, due at
                // its run-at or now.
                lastSeq = seq
                if !running.isEmpty, running[job] != nil { continue }
                placeQueued(job, version: 1, kind: kind, priority: priority, createdAt: recordedAt, runAt: runAt ?? recordedAt,
                            wasInFlight: false, now: now, onlyIfNew: true)
            }
        }
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

    /// Takes in a job's state read from the log (see `unresolved`).
    mutating func adopt(_ s: JobState?, job: JobID, now: Timestamp) {
        unresolved.remove(job)
        guard let s, queued[job] == nil, running[job] == nil else { return }
        place(s, wasInFlight: false, now: now)
    }

    /// The states of the jobs about to be claimed, read from the log: their `started` events
    /// are folded onto them.
    mutating func claiming(_ states: [JobState]) {
        claiming = Dictionary(states.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The best claimable entries (see `ClaimQueue.take`): queued at the version indexed, due
    /// by `now`, and not `busy` (running in this engine).
    mutating func take(now: Timestamp, kinds: Set<String>, room: [String: Int], limit: Int, busy: (JobID) -> Bool) -> [ClaimQueue.Entry] {
        var index = self.index
        self.index = ClaimQueue()  // moved out, so the heaps are not copied while changed
        defer { self.index = index }
        return index.take(now: now, kinds: kinds, room: room, limit: limit) { entry in
            guard let q = queued[entry.id], Int(q.version) == entry.version else { return .stale }
            return busy(entry.id) ? .notNow : .claimable
        }
    }

    /// Puts an entry taken by `take` back in the index (its claim failed for a reason other
    /// than losing the job), unless the job has moved on meanwhile.
    mutating func putBack(_ entry: ClaimQueue.Entry, now: Timestamp) {
        guard let q = queued[entry.id], Int(q.version) == entry.version else { return }
        index.offer(entry, now: now)
    }

    /// Writes the fold as of `lastSeq` (see `EngineSnapshot`), part by part through `emit`, and
    /// returns its head and the number of jobs in flight it holds: the queued jobs that have an
    /// index entry at their version go in the parts; the others in flight (running, being
    /// claimed, unresolved) in the head, for whoever starts from it to read from the log.
    mutating func writeSnapshot(emit: ([UInt8]) throws -> Void) throws -> (head: EngineSnapshot.Head, jobs: Int) {
        let index = self.index, seq = lastSeq
        var part: [EngineSnapshot.Job] = []
        part.reserveCapacity(min(EngineSnapshot.partSize, queued.count))
        var jobs = 0
        do {
            try index.forEachEntry { e in
                guard let kind = queued.mark(e.id, version: e.version) else { return }  // stale, or a second entry
                part.append(.init(id: e.id, version: e.version, kind: Int(kind), priority: e.candidate.priority,
                                  createdAt: e.candidate.createdAt, runAt: e.runAt))
                if part.count == EngineSnapshot.partSize {
                    try emit(EngineSnapshot.encode(part: part, seq: seq))
                    jobs += part.count
                    part.removeAll(keepingCapacity: true)
                }
            }
            if !part.isEmpty { try emit(EngineSnapshot.encode(part: part, seq: seq)) }
            jobs += part.count
        } catch {
            _ = queued.clearMarks()
            throw error
        }
        var others = unresolved.union(running.keys)
        others.formUnion(queued.clearMarks())
        return (EngineSnapshot.Head(seq: seq, kinds: kinds, unresolved: others.sorted()), jobs + others.count)
    }

    init() {}

    /// Starts a new view from a snapshot's head: its parts follow (`load(part:kinds:now:)`), then
    /// the events after `head.seq`; its unresolved jobs' states are read from the log.
    init(head: EngineSnapshot.Head) {
        unresolved = Set(head.unresolved)
        lastSeq = head.seq
    }

    /// Files a snapshot part's queued jobs (see `init(head:)`).
    mutating func load(part jobs: [EngineSnapshot.Job], kinds: [String], now: Timestamp) {
        for j in jobs {
            placeQueued(j.id, version: j.version, kind: kinds[j.kind], priority: j.priority, createdAt: j.createdAt,
                        runAt: j.runAt, wasInFlight: false, now: now, onlyIfNew: true)
        }
    }

    /// Whether nothing has been folded into this view yet.
    var isFresh: Bool { lastSeq == 0 && count == 0 && unresolved.isEmpty }

    /// Takes over the own events `other` (a fresh view) holds, ahead of what it folded.
    mutating func takeAhead(from other: EngineView, now: Timestamp) {
        for (seq, e) in other.ahead where seq > lastSeq { ahead[seq] = e }
        drainAhead(now: now)
    }

    private mutating func drainAhead(now: Timestamp) {
        while let e = ahead.removeValue(forKey: lastSeq + 1) { step(e, now: now) }
        if !ahead.isEmpty { ahead = ahead.filter { $0.key > lastSeq } }
    }

    /// One event, the next in `seq` order.
    private mutating func step(_ e: StoredEvent, now: Timestamp) {
        lastSeq = e.seq
        if let q = queued[e.job] {
            // A queued job moves on: started here (its state was read for the claim), started
            // elsewhere (its state is read from the log), or canceled.
            guard e.version == Int(q.version) + 1 else { return }
            queued[e.job] = nil
            inFlightByKind[Int(q.kind)] -= 1
            if var s = claiming.removeValue(forKey: e.job), s.version == Int(q.version), (try? s.apply(e.payload, at: e.recordedAt)) != nil {
                place(s, wasInFlight: false, now: now)
            } else if case .started = e.payload {
                unresolved.insert(e.job)
            }
            return
        }
        if var s = running.removeValue(forKey: e.job) {
            // An event the state already includes (read from the log after it), or one the
            // lifecycle refuses (the log accepted it, so never): kept as it was.
            guard e.version == s.version + 1, (try? s.apply(e.payload, at: e.recordedAt)) != nil else {
                running[e.job] = running[e.job] ?? s
                return
            }
            place(s, wasInFlight: true, now: now)
            return
        }
        if e.version == 1, let s = try? Lifecycle.begin(job: e.job, with: e.payload, at: e.recordedAt) {
            place(s, wasInFlight: false, now: now)
        } else if case .queued = e.payload, !unresolved.contains(e.job) {
            unresolved.insert(e.job)  // a dead letter requeued: its state is in the log
        } else if !unresolved.isEmpty, e.type == .completed || e.type == .canceled {
            // A job started elsewhere ends for good: nothing of it is in flight any more, so
            // its state need not be read (a `failed` one may be retried: that one is read). On a
            // log of finished jobs this spares a read per job at start.
            unresolved.remove(e.job)
        }
        // Anything else is an event of a finished job, or of one whose state is being read
        // (the state read includes it).
    }

    /// Files a job's new state.
    private mutating func place(_ s: JobState, wasInFlight: Bool, now: Timestamp) {
        switch s.status {
        case .queued:
            placeQueued(s.id, version: s.version, kind: s.kind, priority: s.priority, createdAt: s.createdAt, runAt: s.runAt,
                        wasInFlight: wasInFlight, now: now)
        case .running:
            running[s.id] = s
            if !wasInFlight { inFlightByKind[Int(intern(s.kind))] += 1 }
        case .completed, .failed, .canceled:
            if wasInFlight { inFlightByKind[Int(intern(s.kind))] -= 1 }
        }
    }

    /// Files a queued job and indexes it.
    /// Files a queued job and indexes it; with `onlyIfNew`, only if it is not queued already
    /// (one lookup: the common case of a backlog read from the log).
    private mutating func placeQueued(_ job: JobID, version: Int, kind: String, priority: Int, createdAt: Timestamp, runAt: Timestamp,
                                      wasInFlight: Bool, now: Timestamp, onlyIfNew: Bool = false) {
        let k = intern(kind)
        let entry = Queued(version: Int32(clamping: version), kind: k)
        if let earlier = queued.updateValue(entry, forKey: job), onlyIfNew {
            queued[job] = earlier
            return
        }
        index.offer(.init(candidate: .init(priority: priority, createdAt: createdAt, id: job, kind: kinds[Int(k)]), version: version, runAt: runAt), now: now)
        if !wasInFlight { inFlightByKind[Int(k)] += 1 }
        // Stale entries of jobs that moved on pile up only for kinds nobody here claims.
        if index.count > 2 * queued.count + 4096 {
            var index = self.index
            self.index = ClaimQueue()
            index.compact { e in queued[e.id].map { Int($0.version) == e.version } ?? false }
            self.index = index
        }
    }

    private mutating func intern(_ kind: String) -> UInt32 {
        if let last = lastKind, last.name == kind { return last.index }
        let i: UInt32
        if let known = kindIndex[kind] {
            i = known
        } else {
            i = UInt32(kinds.count)
            kinds.append(kind)
            kindIndex[kind] = i
            inFlightByKind.append(0)
        }
        lastKind = (kinds[Int(i)], i)
        return i
    }
}
