import JobLedger
import JobLedgerSQLite
import Logging
import Synchronization

/// The log's hash-chain verdict, kept up with the log incrementally: the whole log is verified
/// once, then each time the head has moved only the events after the last verified one
/// (`Ledger.verify(continuing:)`: seq continuity, the `prev_hash` link, payload digest, event
/// hash, version and transition). A full re-verification runs again once `fullEvery`
/// milliseconds have passed on the server's clock since the last one started, so that a row
/// changed behind the server's back, before the verified head, is noticed then. Each event of a
/// history says whether the chain verifies up to it.
///
/// Each verdict also names the log's integrity rules (the triggers refusing UPDATE and DELETE
/// on `events`, the idempotency index, `chain_rules` and its triggers) that were dropped from
/// the file (`Ledger.removedIntegrityRules()`, as `jobledger verify` reports them): the events
/// may still verify, but nothing refuses an edit to them any more.
///
/// Every verdict is said in the server's log as soon as it is reached (`ChainReport`): a break or
/// removed rules once, at error level, whichever path found them first.
final class ChainStatus: Sendable {
    struct Verdict: Sendable {
        /// The head it was computed at.
        var head: Int64
        /// The first seq at fault, nil when the whole chain verifies.
        var brokenAt: Int64?
        /// What is wrong there.
        var problem: String?
        /// The log's integrity rules gone from the file, each as `trigger events_no_update
        /// (refuses UPDATE on events)`; empty while they are all there.
        var removedRules: [String] = []
        /// Each removed rule as its kind and name only (`trigger events_no_update`): fixed
        /// words, for `/readyz`.
        var removedRuleNames: [String] {
            removedRules.map { r in r.range(of: " (").map { String(r[..<$0.lowerBound]) } ?? r }
        }
    }

    private struct State {
        var verdict: Verdict?
        /// Where the last verification that checked out got to (nil: verify the whole log).
        var progress: VerifyProgress?
        /// When the last full verification started; nil before the first.
        var lastFull: Int64?
        /// Bumped by every full verification, so a slower incremental one started before it
        /// cannot overwrite its verdict.
        var generation = 0
        /// Why the last verification could not read the log (a damaged file); nil once one has.
        var failure: String?
        /// The failure was a read of the head or of the schema only (a passing I/O error, say): the
        /// next such read that succeeds clears it. A verification's failure waits for a
        /// verification that succeeds.
        var failureIsLight = false
    }

    /// What the last verification found, without verifying anything: for `/readyz`, `/metrics`
    /// and the dashboard's banner, which must not wait for a verification of the whole log.
    enum Latest: Sendable {
        /// Nothing verified yet.
        case unchecked
        /// The last verdict reached.
        case verdict(Verdict)
        /// The last verification could not read the log.
        case unreadable(String)
    }

    /// What the last verification found (`verdict()` and `ChainWatch` make them).
    var latest: Latest {
        state.withLock { s in
            if let f = s.failure { return .unreadable(f) }
            return s.verdict.map { .verdict($0) } ?? .unchecked
        }
    }

    private enum Plan {
        case cached(Verdict)
        case full(generation: Int)
        case carryOn(VerifyProgress, generation: Int)
    }

    private let ledger: Ledger
    private let now: @Sendable () -> Int64
    /// Milliseconds between full verifications.
    let fullEvery: Int64
    private let state = Mutex(State())
    /// What the server's log has said about the chain, whoever verified it.
    let report = ChainReport()

    /// `now`: milliseconds since 1970 (the server's clock); `fullEvery`: how long an incremental
    /// verdict is trusted before the whole log is verified again (10 minutes by default).
    init(ledger: Ledger, now: @escaping @Sendable () -> Int64, fullEvery: Int64 = 600_000) {
        self.ledger = ledger
        self.now = now
        self.fullEvery = fullEvery
    }

    /// The verdict for the current head, said in `logger` at once when it is news (a break, removed
    /// rules, a log that cannot be read, or their end): every caller reports what it finds, so
    /// that a request that meets a break first logs it then, not the next background check.
    /// With `stop`, a verification that it cuts short throws `CancellationError` and changes
    /// nothing (`ChainWatch` when the server stops).
    func verdict(logger: Logger, stop: (() -> Bool)? = nil) throws -> Verdict {
        defer { report.say(latest, logger: logger) }
        return try verify(stop: stop)
    }

    /// The verdict for the current head, unsaid.
    private func verify(stop: (() -> Bool)?) throws -> Verdict {
        // A log whose head cannot be read is as unreadable as one whose history cannot.
        let current: ChainHead?
        do { current = try ledger.head() } catch {
            state.withLock { $0.failure = "\(error)"; $0.failureIsLight = true }
            throw error
        }
        // Read again: a failed read of the head (or of the rules) no longer stands. It stood
        // until the head moved or a full verification was due (up to ten minutes of
        // "unreadable" on an idle log after one passing read error).
        state.withLock { s in if s.failureIsLight { s.failure = nil; s.failureIsLight = false } }
        let head = current?.seq ?? 0
        let t = now()
        let plan: Plan = state.withLock { s in
            // A head behind the last verified one, or the same seq with another hash: events were
            // cut off or rewritten behind the server's back; carrying on would not see it.
            let rewound = s.progress.map { p in head < p.head.seq || (head == p.head.seq && head > 0 && current?.hash != p.head.hash) } ?? false
            if s.progress == nil || rewound || s.lastFull.map({ t - $0 >= fullEvery }) ?? true {
                // Claimed: requests meanwhile carry on incrementally from the previous progress.
                s.lastFull = t
                s.generation += 1
                return .full(generation: s.generation)
            }
            // A broken chain stays broken until a full verification says otherwise.
            if let v = s.verdict, v.head == head || v.brokenAt != nil { return .cached(v) }
            return .carryOn(s.progress!, generation: s.generation)
        }
        let start: VerifyProgress?
        let generation: Int
        switch plan {
        case .cached(let v): return try recheckRules(v)
        case .full(let g): start = nil; generation = g
        case .carryOn(let p, let g): start = p; generation = g
        }
        let result: (report: VerifyReport, next: VerifyProgress)
        var stopped = false
        do {
            result = try ledger.verify(continuing: start, stop: stop.map { stop in { stopped = stop(); return stopped } })
        } catch {
            state.withLock { s in
                guard s.generation == generation else { return }
                if start == nil { s.lastFull = nil }
                s.failure = "\(error)"
                s.failureIsLight = false
            }
            throw error
        }
        if stopped {
            // Cut short: the next verification starts as if this one had not begun.
            state.withLock { s in if s.generation == generation, start == nil { s.lastFull = nil } }
            throw CancellationError()
        }
        let r = result.report
        let v = Verdict(head: r.head?.seq ?? head, brokenAt: r.problem?.seq, problem: r.problem?.message, removedRules: r.removedRules)
        return state.withLock { s in
            guard s.generation == generation else { return s.verdict ?? v }
            s.failure = nil
            s.failureIsLight = false
            // Another request of this generation may have carried on further meanwhile.
            if let current = s.verdict, current.brokenAt == nil, current.head > v.head, start != nil { return current }
            s.verdict = v
            s.progress = result.next
            return v
        }
    }

    /// `cached` with the integrity rules looked up again. Run at every verdict, not only at full
    /// verifications: dropping a trigger does not move the head, so a verdict reused for an
    /// unchanged head (or carried on incrementally) would otherwise keep saying the rules are in
    /// place for up to `fullEvery`, while nothing refuses an edit; and a rule put back is seen
    /// as soon. It is one read of `sqlite_schema` (a few dozen rows, whatever the log's length),
    /// as cheap as the head read above; the verifications that carry on make it themselves
    /// (`Ledger.verify(continuing:)`), so only a reused verdict needs it here.
    private func recheckRules(_ cached: Verdict) throws -> Verdict {
        let removed: [String]
        do { removed = try ledger.removedIntegrityRules() } catch {
            state.withLock { s in
                // A verification's failure stays the one said.
                if s.failure == nil || s.failureIsLight { s.failure = "\(error)"; s.failureIsLight = true }
            }
            throw error
        }
        guard removed != cached.removedRules else { return cached }
        var v = cached
        v.removedRules = removed
        state.withLock { s in
            // Only onto the verdict it was looked up for: a newer one made meanwhile looked itself.
            if s.verdict?.head == v.head, s.verdict?.brokenAt == v.brokenAt { s.verdict?.removedRules = removed }
        }
        return v
    }
}
