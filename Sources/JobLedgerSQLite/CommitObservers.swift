import JobLedger
import Synchronization

/// An event an append transaction of this ledger recorded, with its job's state after it: what
/// the writer has in hand when it commits, handed on so that no one reads it back and decodes
/// and folds it again.
package struct CommittedEvent: Sendable {
    package let event: ProjectedEvent
    /// The job's state after the event.
    package let after: JobState

    /// The writer's payloads are already the ones the log gives back (`PreparedEvent` stores
    /// them `asStored`), and its states are folded from them.
    init(_ e: StoredEvent, after: JobState) {
        event = ProjectedEvent(seq: e.seq, job: e.job, version: e.version, payload: e.payload, recordedAt: e.recordedAt)
        self.after = after
    }
}

/// Who is told of this ledger's commits (`Ledger.observeCommits`): a `ProjectionRunner`
/// running live.
final class CommitObservers: Sendable {
    private struct State {
        var observers: [(id: UInt64, observe: @Sendable ([CommittedEvent]) -> Void)] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    /// Whether anyone observes: read once per append transaction, without taking the lock.
    private let active = Atomic<Bool>(false)

    /// Whether an append transaction is to keep what it recorded for the observers.
    var isActive: Bool { active.load(ordering: .relaxed) }

    func add(_ observe: @escaping @Sendable ([CommittedEvent]) -> Void) -> UInt64 {
        state.withLock { s in
            s.nextID += 1
            s.observers.append((s.nextID, observe))
            active.store(true, ordering: .relaxed)
            return s.nextID
        }
    }

    func remove(_ id: UInt64) {
        state.withLock { s in
            s.observers.removeAll { $0.id == id }
            active.store(!s.observers.isEmpty, ordering: .relaxed)
        }
    }

    /// Tells every observer of a committed transaction's events.
    func committed(_ events: [CommittedEvent]) {
        guard !events.isEmpty else { return }
        for o in state.withLock({ $0.observers }) { o.observe(events) }
    }
}

/// An observer of a ledger's commits; `cancel()` stops the calls (a commit already telling its
/// observers when it is called may still call it once).
package struct CommitObservation: Sendable {
    let observers: CommitObservers
    let id: UInt64
    package func cancel() { observers.remove(id) }
}

extension Ledger {
    /// Calls `observe` after every append transaction of this `Ledger` that recorded events
    /// (not other processes' nor imports), with the events and their jobs' states after each,
    /// in `seq` order; calls never overlap. It runs on the writer, which waits for it: keep it
    /// to handing the events on, and never touch the ledger from it. A commit that began as the
    /// observer was registered may not be told of (a gap, as another process's appends are).
    package func observeCommits(_ observe: @escaping @Sendable ([CommittedEvent]) -> Void) -> CommitObservation {
        CommitObservation(observers: committer.observers, id: committer.observers.add(observe))
    }
}
