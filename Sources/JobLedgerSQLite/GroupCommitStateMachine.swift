/// Decides, for the group committer, who commits and who waits: a value with no I/O and no
/// locks of its own (the committer keeps it in a `Mutex`), whose methods each take one event —
/// an append arrives, a request queues, a commit ends, the leader wants its next batch — and
/// return the one action the caller must perform. The caller switches over that action
/// exhaustively, outside the lock.
///
/// At most one party holds the writer role at a time: a caller that found nobody committing
/// and commits its own request on its own thread, or the leader task that commits queued
/// requests in batches of at most `maxBatch`, oldest first, until none is left. Every queued
/// request is handed out in exactly one batch, in the order it queued.
///
/// Committing at once on the caller's own thread is right for a caller appending alone (no
/// hop to another task), and wrong under concurrent load: each such commit is a transaction of
/// one request, and SQLite's cost per transaction (locks, WAL frames, the commit) is several
/// times its cost per row. So after a commit that others queued behind, a caller that finds
/// nobody committing queues for a leader instead (`queueAndLead`), and the callers arriving
/// meanwhile share its transaction. Only `quietCommitsToCommitAlone` commits in a row that
/// nobody queued behind (a caller's own, or a leader's that committed one request in all) turn
/// that off again: under load, a leader that happened to find one request would otherwise
/// send the next callers back to transactions of their own.
struct GroupCommitStateMachine<Request> {
    private enum State {
        /// Nobody holds the writer role and nothing waits.
        case idle
        /// A caller commits its own request on its own thread; `queue` arrived meanwhile and
        /// waits for the leader it will hand over to.
        case callerCommitting(queue: [Request])
        /// The leader task holds the writer role: it takes `queue` in batches until it is empty.
        case leading(queue: [Request])
        /// Only while a queue is changed in place, so that the array is not copied.
        case modifying
    }

    /// What a caller that arrives with a request does (before it has anything to wait on).
    enum ArrivalAction: Equatable {
        /// Nobody was committing: the caller now holds the writer role and commits its request
        /// on its own thread, then calls `ownCommitFinished()`.
        case commitNow
        /// Someone is committing: the caller queues its request (`requestQueued`) and waits.
        case enqueue
        /// Nobody was committing, but the last commit had callers queued behind it: the role
        /// is now a leader's. The caller queues its request (`requestQueued`), then starts the
        /// leader task (which calls `leaderReady()`), and waits.
        case queueAndLead
    }

    /// What a caller that has just queued its request does.
    enum QueuedAction: Equatable {
        /// Wait: whoever holds the writer role commits the request in a later batch.
        case wait
        /// The committer finished before the request queued: start a leader task (which calls
        /// `leaderReady()`), then wait.
        case startLeader
    }

    /// What the caller that committed on its own thread does once it has finished.
    enum OwnCommitAction: Equatable {
        /// Nothing: nobody queued meanwhile, and the writer role is free again.
        case none
        /// Requests queued meanwhile: start a leader task for them (the role passes to it).
        case startLeader
    }

    /// What the leader task does when it is ready for a batch.
    enum LeaderAction {
        /// Commit these requests in one transaction, resume their callers, then ask again.
        case commit([Request])
        /// Nothing is queued: the leader ends, and the writer role is free again.
        case stop
        /// Nothing is queued yet, and the leader keeps the role (it said it still holds callers
        /// to resume, whose next appends it waits for).
        case nothingQueued
    }

    /// Largest number of requests handed to one transaction.
    let maxBatch: Int
    private var state: State = .idle
    /// Commits in a row that nobody queued behind before a caller commits alone again.
    static var quietCommitsToCommitAlone: Int { 8 }
    /// Commits in a row, up to `quietCommitsToCommitAlone`, that nobody queued behind.
    private var quietCommits = GroupCommitStateMachine.quietCommitsToCommitAlone
    /// Requests the current leader has committed so far.
    private var ledRequests = 0
    /// Whether callers queued behind a recent commit (see the type's description): a caller
    /// finding nobody committing then queues for a leader instead of committing alone.
    var contended: Bool { quietCommits < Self.quietCommitsToCommitAlone }
    /// Appends that have arrived so far (for tests: "have all callers reached the committer?").
    private(set) var arrivals = 0

    init(maxBatch: Int) {
        precondition(maxBatch > 0, "a batch holds at least one request")
        self.maxBatch = maxBatch
    }

    /// Requests queued and not yet handed to the leader.
    var waiting: Int {
        switch state {
        case .idle: 0
        case .callerCommitting(let queue), .leading(let queue): queue.count
        case .modifying: preconditionFailure("GroupCommitStateMachine: read while being modified")
        }
    }

    /// True while someone holds the writer role.
    var isCommitting: Bool {
        switch state {
        case .idle: false
        case .callerCommitting, .leading: true
        case .modifying: preconditionFailure("GroupCommitStateMachine: read while being modified")
        }
    }

    /// An append arrives. Only when nobody holds the writer role does the caller take it and
    /// commit at once (or, after a contended commit, hand it to a leader it starts); otherwise it
    /// queues behind whoever does, even if the queue is empty, so that requests that queued
    /// earlier are never overtaken.
    mutating func appendArrived() -> ArrivalAction {
        arrivals += 1
        switch state {
        case .idle where contended:
            state = .leading(queue: [])
            ledRequests = 0
            return .queueAndLead
        case .idle:
            state = .callerCommitting(queue: [])
            return .commitNow
        case .callerCommitting, .leading:
            return .enqueue
        case .modifying:
            preconditionFailure("GroupCommitStateMachine: reentered while being modified")
        }
    }

    /// A caller told to `enqueue` has queued its request. Between its arrival and now the
    /// committer may have finished and left the role free: the request then needs a leader.
    mutating func requestQueued(_ request: Request) -> QueuedAction {
        switch state {
        case .idle:
            state = .leading(queue: [request])
            ledRequests = 0
            return .startLeader
        case .callerCommitting(var queue):
            state = .modifying
            queue.append(request)
            state = .callerCommitting(queue: queue)
            return .wait
        case .leading(var queue):
            state = .modifying
            queue.append(request)
            state = .leading(queue: queue)
            return .wait
        case .modifying:
            preconditionFailure("GroupCommitStateMachine: reentered while being modified")
        }
    }

    /// The caller that committed on its own thread has finished (committed or failed). The
    /// role is free again, or passes to a leader task when requests queued meanwhile.
    mutating func ownCommitFinished() -> OwnCommitAction {
        switch state {
        case .callerCommitting(let queue):
            commitEnded(queuedBehind: !queue.isEmpty)
            if queue.isEmpty {
                state = .idle
                return .none
            }
            state = .leading(queue: queue)
            ledRequests = 0
            return .startLeader
        case .idle, .leading:
            preconditionFailure("GroupCommitStateMachine: ownCommitFinished() without a commit on the caller's thread")
        case .modifying:
            preconditionFailure("GroupCommitStateMachine: reentered while being modified")
        }
    }

    /// A caller's own commit, or a leader's run, has ended: with callers queued behind it (the
    /// leader committed more than one request), or none.
    private mutating func commitEnded(queuedBehind: Bool) {
        quietCommits = queuedBehind ? 0 : min(quietCommits + 1, Self.quietCommitsToCommitAlone)
    }

    /// The leader is ready for its next batch (when it starts, and after each batch it has
    /// committed). The batch is taken now, not when the leader was started, so that callers
    /// that queued in between join it. `holding`: the leader still holds committed callers to
    /// resume; with nothing queued it then keeps the role (`nothingQueued`) instead of ending.
    mutating func leaderReady(holding: Bool = false) -> LeaderAction {
        switch state {
        case .leading(var queue):
            if queue.isEmpty {
                if holding { return .nothingQueued }
                state = .idle
                commitEnded(queuedBehind: ledRequests > 1)
                return .stop
            }
            if queue.count <= maxBatch {
                state = .leading(queue: [])
                ledRequests += queue.count
                return .commit(queue)
            }
            state = .modifying
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(maxBatch)
            state = .leading(queue: queue)
            ledRequests += batch.count
            return .commit(batch)
        case .idle, .callerCommitting:
            preconditionFailure("GroupCommitStateMachine: leaderReady() without a leader")
        case .modifying:
            preconditionFailure("GroupCommitStateMachine: reentered while being modified")
        }
    }
}
