import JobLedger

/// The claim index: every queued job an engine knows of, by kind, in claim order (highest
/// priority, then oldest, then lowest id), and the delayed ones by the time they become due.
/// Kept incrementally as the engine folds events, so a claim round costs O(k log n) for k
/// claims out of n queued jobs instead of a scan of every job in flight.
///
/// Entries are never searched for and removed: a job that moves on (claimed, canceled,
/// requeued at a later version) leaves a stale entry behind, which `take` drops when it reaches
/// the top of its heap (the caller's verdict says so), and `compact` drops all at once when
/// they pile up (jobs of a kind this engine never claims, run by other engines).
struct ClaimQueue: Sendable {
    /// One queued job at the version it became queued.
    struct Entry: Comparable, Sendable {
        let candidate: JobEngine.ClaimCandidate
        /// The job's version when it became queued: any later event makes the entry stale.
        let version: Int
        /// Not before this time (its run-at, or its retry time).
        let runAt: Timestamp
        var id: JobID { candidate.id }
        var kind: String { candidate.kind }
        static func < (a: Entry, b: Entry) -> Bool { a.candidate < b.candidate }
        static func == (a: Entry, b: Entry) -> Bool { a.candidate == b.candidate && a.version == b.version }
    }

    /// An entry waiting for its run-at, earliest first.
    struct Delayed: Comparable, Sendable {
        let entry: Entry
        static func < (a: Delayed, b: Delayed) -> Bool { (a.entry.runAt, a.entry.candidate) < (b.entry.runAt, b.entry.candidate) }
    }

    /// What the caller knows of an entry at the top of its heap.
    enum Verdict {
        /// The job is queued at the entry's version and may start now.
        case claimable
        /// The job has moved on: the entry is dropped.
        case stale
        /// Queued at that version, but not for this round (an attempt of this engine that lost
        /// the job still runs): kept for a later round.
        case notNow
    }

    private var ready: [String: BinaryHeap<Entry>] = [:]
    private var delayed = BinaryHeap<Delayed>()

    init() {}

    /// Entries held, stale ones included.
    var count: Int { ready.values.reduce(delayed.count) { $0 + $1.count } }

    /// Calls `body` with every delayed entry (stale ones included), in no particular order.
    func forEachDelayed(_ body: (Entry) -> Void) {
        for d in delayed.elements { body(d.entry) }
    }

    /// Adds a job that became queued (at `entry.version`): ready if its run-at has come by
    /// `now`, delayed otherwise.
    mutating func offer(_ entry: Entry, now: Timestamp) {
        if entry.runAt > now {
            delayed.push(Delayed(entry: entry))
        } else {
            ready[entry.kind, default: BinaryHeap()].push(entry)
        }
    }

    /// Takes up to `limit` entries the verdict finds claimable, best first, of the kinds in
    /// `kinds` only, at most `room[kind]` of a capped kind (a kind absent from `room` has no
    /// cap): the same choice as sorting every claimable job and taking greedily within the
    /// caps. Delayed entries whose run-at has come by `now` become ready first. The entries
    /// taken leave the index; a caller whose claim fails for a reason other than losing the job
    /// offers it again.
    mutating func take(now: Timestamp, kinds: Set<String>, room: [String: Int], limit: Int, verdict: (Entry) -> Verdict) -> [Entry] {
        while let d = delayed.top, d.entry.runAt <= now {
            delayed.pop()
            ready[d.entry.kind, default: BinaryHeap()].push(d.entry)
        }
        guard limit > 0 else { return [] }
        var left = room
        var taken: [Entry] = []
        var takenIDs: Set<JobID> = []
        var kept: [Entry] = []
        let candidates = kinds.filter { ready[$0] != nil }
        while taken.count < limit {
            var best: Entry?
            for kind in candidates {
                if let r = left[kind], r <= 0 { continue }
                // Drop what is stale at the top; set aside what is not for this round.
                while let top = ready[kind]?.top {
                    let v = takenIDs.contains(top.id) ? .stale : verdict(top)
                    switch v {
                    case .claimable:
                        if best == nil || top < best! { best = top }
                    case .stale:
                        ready[kind]!.pop()
                        continue
                    case .notNow:
                        kept.append(ready[kind]!.pop()!)
                        continue
                    }
                    break
                }
            }
            guard let chosen = best else { break }
            ready[chosen.kind]!.pop()
            taken.append(chosen)
            takenIDs.insert(chosen.id)
            if let r = left[chosen.kind] { left[chosen.kind] = r - 1 }
        }
        for e in kept { ready[e.kind, default: BinaryHeap()].push(e) }
        return taken
    }

    /// Calls `body` with every entry held, stale ones included, in no order.
    func forEachEntry(_ body: (Entry) throws -> Void) rethrows {
        for heap in ready.values { for e in heap.elements { try body(e) } }
        for d in delayed.elements { try body(d.entry) }
    }

    /// Rebuilds the heaps with only the entries `keep` accepts (in O(n)).
    mutating func compact(keeping keep: (Entry) -> Bool) {
        var rebuilt: [String: BinaryHeap<Entry>] = [:]
        for (kind, heap) in ready {
            let live = heap.elements.filter(keep)
            if !live.isEmpty { rebuilt[kind] = BinaryHeap(live) }
        }
        ready = rebuilt
        delayed = BinaryHeap(delayed.elements.filter { keep($0.entry) })
    }
}
