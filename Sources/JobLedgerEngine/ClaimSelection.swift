import JobLedger

/// Which queued jobs an engine claims next: the best few by priority, then age, then id,
/// within the per-kind concurrency caps, taken from the claim index (`ClaimQueue`).
extension JobEngine {
    /// Up to `limit` jobs that may start now, best first: highest priority, then oldest, then
    /// lowest id; of the kinds with a handler here, within each kind's free room, and not
    /// already running here. They leave the claim index: a claim that fails for a reason other
    /// than losing the job puts its entry back (`EngineView.putBack`).
    func claimable(now: Timestamp, s: inout State, limit: Int) -> [ClaimQueue.Entry] {
        guard limit > 0 else { return [] }
        var perKind: [String: Int] = [:]
        for (_, r) in s.running { perKind[r.kind, default: 0] += 1 }
        var room: [String: Int] = [:]
        for (kind, r) in s.registrations { if let cap = r.concurrency { room[kind] = max(0, cap - perKind[kind, default: 0]) } }
        let running = s.running
        return s.view.take(now: now, kinds: Set(s.registrations.keys), room: room, limit: limit) { running[$0] != nil }
    }

    /// What the claim order looks at of a queued job.
    struct ClaimCandidate: Comparable, Sendable {
        let priority: Int, createdAt: Timestamp, id: JobID, kind: String
        /// "Better" sorts first: higher priority, then older, then lower id.
        static func < (a: ClaimCandidate, b: ClaimCandidate) -> Bool {
            a.priority != b.priority ? a.priority > b.priority : (a.createdAt, a.id) < (b.createdAt, b.id)
        }
    }
}
