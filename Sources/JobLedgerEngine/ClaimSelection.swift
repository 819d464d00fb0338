import JobLedger

/// Which queued jobs an engine claims next: the best few by priority, then age, within the
/// per-kind concurrency caps.
extension JobEngine {
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
