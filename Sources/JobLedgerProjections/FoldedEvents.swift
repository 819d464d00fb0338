import GRDB
import JobLedger
import Synchronization

/// The events a runner's projections took in last, decoded, each with its job's state after it,
/// shared by the runner's projections: they follow the same log a few events apart, and the
/// first to reach an event reads, decodes and folds it for all of them. While the runner runs
/// live, its ledger's writer hands on each commit's events and states (`Ledger.observeCommits`,
/// payloads as the log gives them back), and once the projections are at the head they find
/// what is appended through that `Ledger` here without reading it (`handOn`). Holds a run of
/// consecutive `seq`s (between `capacity` and twice that once full) and each job's latest state
/// in it (within `BoundedStates`' budgets); what is not here (events older than the run, or
/// appended by another process) is read from the log.
///
/// Only events as they are stored, and states folded from them, are recorded: what a
/// projection takes from here is what it would have read and folded itself.
final class FoldedEvents: Sendable {
    struct Entry: Sendable {
        let event: ProjectedEvent
        /// The job's state after the event.
        let after: JobState
    }

    private struct State {
        /// Consecutive events, oldest first; `entries[i]` has seq `first + i`.
        var entries: [Entry] = []
        /// Roughly the bytes each entry's payload keeps alive, and their sum.
        var weights: [Int] = []
        var bytes = 0
        var first: Int64 = 0
        /// Each job's latest state among the entries (jobs that ended are dropped).
        var latest = BoundedStates()

        var next: Int64 { first + Int64(entries.count) }
    }

    private let state = Mutex(State())
    /// What the ledger's writer handed on (`handOn`) and the run has not taken in yet, oldest
    /// first: its batches, how far into the first one the run has come, and how many events wait.
    private struct Handed {
        var batches: [[Entry]] = []
        var offset = 0
        var count = 0
    }
    private let handed = Mutex(Handed())
    let capacity: Int

    /// Bytes of payloads the run holds, roughly, once trimmed (twice this before it is): each
    /// entry holds its payload, up to the log's payload limit (64 KiB by default), so 4,096 of
    /// the largest would hold 256 MiB. With small inputs the count is what trims it.
    let byteLimit: Int

    /// 2,048 by default: eight batches, where a runner's projections are a batch or two apart.
    init(capacity: Int = 2048, byteLimit: Int = 32 << 20) { self.capacity = capacity; self.byteLimit = byteLimit }

    /// Up to `limit` events after `after` through `through`, when the run holds the next one;
    /// nil when it does not (the caller reads the log).
    func events(after: Int64, through: Int64, limit: Int) -> [ProjectedEvent]? {
        state.withLock { s in
            takeInHanded(&s)
            guard !s.entries.isEmpty, after + 1 >= s.first, after + 1 < s.next, through > after else { return nil }
            let start = Int(after + 1 - s.first)
            let end = min(s.entries.count, start + limit, Int(min(through, s.next - 1) - s.first) + 1)
            return s.entries[start..<end].map(\.event)
        }
    }

    /// The job's state after the event at `seq`, when the run holds it.
    func state(after seq: Int64) -> JobState? {
        state.withLock { s in
            takeInHanded(&s)
            guard seq >= s.first, seq < s.next else { return nil }
            return s.entries[Int(seq - s.first)].after
        }
    }

    /// The job's state just before its event `version`, when the run's latest state of the
    /// job is that one.
    func before(_ job: JobID, version: Int) -> JobState? {
        state.withLock { s in
            takeInHanded(&s)
            guard let known = s.latest[job], known.version == version - 1 else { return nil }
            return known
        }
    }

    /// The job's state after `e` for a projection whose own cache is `cache`: taken from the run
    /// when another projection folded it, else folded from the state before it (the run's, the
    /// projection's own, or the log's) and recorded, in the run or, when the projection is
    /// behind the run, in its own cache.
    func state(after e: ProjectedEvent, cache: StateCache, db: Database) throws -> JobState {
        if let known = state(after: e.seq) { return known }
        let before = try before(e.job, version: e.version) ?? cache.before(e.job, version: e.version, db: db)
        let after = try Lifecycle.apply(e.payload, to: before, job: e.job, at: e.recordedAt)
        if !add(Entry(event: e, after: after)) { cache.remember(after) }
        return after
    }

    /// Records an event with its state: the next one continues the run; one after a gap
    /// (another process's appends) starts a new run; one the run already holds, or older than
    /// the run (a projection far behind the others), is left out, and false returned: that
    /// projection keeps its own states.
    @discardableResult
    func add(_ e: Entry) -> Bool {
        let weight = Self.weight(of: e)
        return state.withLock { s in
            takeInHanded(&s)
            return add(e, weight: weight, to: &s)
        }
    }

    /// What the ledger's writer committed (`Ledger.observeCommits`), in `seq` order: kept as it
    /// is, for the writer's time, and taken in by readers when the run reaches it. It never
    /// starts or replaces a run: projections catching up on a backlog keep sharing theirs, and
    /// find the writer's events once they reach them. At most about `capacity` events wait:
    /// when the run does not come, the oldest are left to be read from the log.
    func handOn(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        handed.withLock { h in
            h.batches.append(entries)
            h.count += entries.count
            while h.count > capacity, h.batches.count > 1 {
                h.count -= h.batches.removeFirst().count - h.offset
                h.offset = 0
            }
        }
    }

    /// Takes in what the writer handed on, from where the run has come: older events are let
    /// go (the run has them), the next ones continue it, and those after a gap wait for the run
    /// (another process's appends, read from the log, fill it).
    private func takeInHanded(_ s: inout State) {
        guard !s.entries.isEmpty else { return }
        var taken: [Entry] = []
        handed.withLock { h in
            while let batch = h.batches.first {
                while h.offset < batch.count {
                    let e = batch[h.offset]
                    if e.event.seq > s.next + Int64(taken.count) { return }
                    if e.event.seq == s.next + Int64(taken.count) { taken.append(e) }
                    h.offset += 1
                    h.count -= 1
                }
                h.batches.removeFirst()
                h.offset = 0
            }
        }
        for e in taken { _ = add(e, weight: Self.weight(of: e), to: &s) }
    }

    private func add(_ e: Entry, weight: Int, to s: inout State) -> Bool {
        let seq = e.event.seq
        if s.entries.isEmpty || seq > s.next {
            // The latest states stay: each is some job's state at its version, which is all
            // `before` trusts.
            s.entries.removeAll(keepingCapacity: true)
            s.weights.removeAll(keepingCapacity: true)
            s.bytes = 0
            s.first = seq
        } else if seq < s.next {
            return false
        }
        s.entries.append(e)
        s.weights.append(weight)
        s.bytes += weight
        if e.after.status.isTerminal && e.after.status != .failed {
            s.latest.remove(e.event.job)
        } else {
            s.latest.hold(e.after)
        }
        if s.entries.count > 2 * capacity || s.bytes > 2 * byteLimit {
            var drop = max(0, s.entries.count - capacity), dropped = s.weights[..<drop].reduce(0, +)
            while drop < s.entries.count - 1, s.bytes - dropped > byteLimit {
                dropped += s.weights[drop]
                drop += 1
            }
            s.entries.removeFirst(drop)
            s.weights.removeFirst(drop)
            s.bytes -= dropped
            s.first += Int64(drop)
        }
        return true
    }

    /// Roughly the bytes an entry keeps alive: the job's state after it (its input included:
    /// for a job whose `queued` event is older than the run, that input was decoded anew, not
    /// shared) and what the event itself carries beyond it.
    static func weight(of e: Entry) -> Int {
        let own: Int
        switch e.event.payload {
        case .queued, .started, .lowres: own = 0
        case .progress(let p): own = p.message?.utf8.count ?? 0
        case .completed(let c): own = c.output.map(BoundedStates.weight(of:)) ?? 0
        case .failed(let f): own = f.message.utf8.count + f.code.utf8.count
        case .canceled(let c): own = c.reason.utf8.count
        }
        return BoundedStates.weight(of: e.after) + own
    }
}
