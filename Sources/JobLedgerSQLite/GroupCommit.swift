import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// Gathers concurrent appends into one transaction. A caller that finds nobody committing
/// commits its own events at once, on its own thread, without suspending. Callers that arrive
/// while a commit is under way queue up; a leader task then commits everything queued in one
/// transaction, resumes those callers, and repeats while more is queued. No caller returns
/// before its events are committed. Who commits and who waits is `GroupCommitStateMachine`'s
/// decision; what the writer remembers between commits is `WriterCache`'s.
final class GroupCommitter: Sendable {
    /// A queued append: its parts (each part's events all committed, or none of them; the
    /// parts independently of each other), and the caller waiting for them to be committed.
    struct Request: Sendable {
        let parts: [[PreparedEvent]]
        let continuation: CheckedContinuation<[Result<[StoredEvent], LedgerError>], any Error>
    }

    /// Largest batch handed to one transaction.
    static let maxBatch = 1024
    /// Batches the leader commits back to back at most before it yields its thread once.
    static let batchesBetweenYields = 64
    let machine = Mutex(GroupCommitStateMachine<Request>(maxBatch: GroupCommitter.maxBatch))
    let cache = WriterCache()
    /// Who is told of each commit (a runner running live on this ledger).
    let observers = CommitObservers()
}

extension Ledger {
    /// How many append transactions this ledger has committed; fewer than the appends made
    /// when group commit gathered concurrent callers.
    package var appendTransactions: Int { committer.cache.transactions }

    /// Append requests received so far, committed or not: with `appendTransactions`, how well
    /// concurrent appends are gathered (requests per transaction).
    package var receivedAppends: Int { committer.machine.withLock { $0.arrivals } }

    /// Append requests queued for the leader and not yet handed to it (for tests).
    var queuedAppends: Int { committer.machine.withLock { $0.waiting } }

    /// Appends one event and returns it as stored (or, for a repeated idempotency key, the event
    /// first stored with that key). Returns only after the event is committed.
    public func append(_ event: NewEvent) async throws(LedgerError) -> StoredEvent {
        let prepared = try PreparedEvent(event)
        switch appendArrived() {
        case .enqueue:
            return try await enqueue([[prepared]])[0].get()[0]
        case .queueAndLead:
            return try await enqueue([[prepared]], startingLeader: true)[0].get()[0]
        case .commitNow:
            // The common case of one event with nobody else committing: no arrays, no dictionaries.
            guard let now = commitWithoutWaiting(prepared) else { return try await commitAfterWaiting([prepared])[0] }
            ownCommitFinished()
            return try now.get()
        }
    }

    /// Appends events atomically: all are committed together, or none (the error says why).
    public func append(_ newEvents: [NewEvent]) async throws(LedgerError) -> [StoredEvent] {
        if newEvents.isEmpty { return [] }
        // Encoding and digesting the payload needs no lock: done here, on the caller's task, in
        // parallel with whatever the writer is committing.
        var events: [PreparedEvent] = []
        events.reserveCapacity(newEvents.count)
        for e in newEvents { events.append(try PreparedEvent(e)) }
        switch appendArrived() {
        case .enqueue:
            return try await enqueue([events])[0].get()
        case .queueAndLead:
            return try await enqueue([events], startingLeader: true)[0].get()
        case .commitNow:
            guard let now = commitWithoutWaiting(events) else { return try await commitAfterWaiting(events) }
            ownCommitFinished()
            return try now.get()
        }
    }

    /// Appends each event on its own, in one transaction when nobody else is committing (else
    /// with whatever is queued): each one is committed or refused independently of the others,
    /// and the results come back in order. What the engine claims a round's jobs with.
    /// `knownStates`: the jobs' states as the caller just read them from the log, at each event's
    /// `expectedVersion` (see `PreparedEvent.known`); the writer then need not read them again.
    package func appendEach(_ newEvents: [NewEvent], knownStates: [JobID: JobState] = [:]) async -> [Result<StoredEvent, LedgerError>] {
        var results = [Result<StoredEvent, LedgerError>?](repeating: nil, count: newEvents.count)
        var parts: [[PreparedEvent]] = []
        var slots: [Int] = []
        parts.reserveCapacity(newEvents.count)
        for (i, e) in newEvents.enumerated() {
            do {
                var p = try PreparedEvent(e)
                p.known = knownStates[e.job]
                parts.append([p])
                slots.append(i)
            } catch { results[i] = .failure(error) }
        }
        if !parts.isEmpty {
            let committed: [Result<[StoredEvent], LedgerError>]
            let action = appendArrived()
            switch action {
            case .enqueue, .queueAndLead:
                do { committed = try await enqueue(parts, startingLeader: action == .queueAndLead) } catch {
                    committed = Array(repeating: .failure(error), count: parts.count)
                }
            case .commitNow:
                if let now = commitWithoutWaiting(parts: parts) {
                    ownCommitFinished()
                    switch now {
                    case .success(let r): committed = r
                    case .failure(let e): committed = Array(repeating: .failure(e), count: parts.count)
                    }
                } else {
                    committed = await commit(parts)
                    ownCommitFinished()
                }
            }
            for (slot, r) in zip(slots, committed) { results[slot] = r.map { $0[0] } }
        }
        return results.map { $0! }
    }

    /// For a caller that holds the writer role but could not commit without waiting (another
    /// connection holds the write lock, or another write of this ledger uses the writer): the
    /// same commit on GRDB's async writer queue, then the role is given up.
    private func commitAfterWaiting(_ events: [PreparedEvent]) async throws(LedgerError) -> [StoredEvent] {
        let result = await commit([events])[0]
        ownCommitFinished()
        return try result.get()
    }

    /// Tells the state machine that an append arrived: commit now, or queue.
    private func appendArrived() -> GroupCommitStateMachine<GroupCommitter.Request>.ArrivalAction {
        committer.machine.withLock { $0.appendArrived() }
    }

    /// Queues the events for the leader's next transaction and waits until it has committed them.
    /// `startingLeader`: the caller was told to start the leader once it has queued (`queueAndLead`).
    private func enqueue(_ parts: [[PreparedEvent]], startingLeader: Bool = false) async throws(LedgerError) -> [Result<[StoredEvent], LedgerError>] {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                switch committer.machine.withLock({ $0.requestQueued(.init(parts: parts, continuation: continuation)) }) {
                case .wait: if startingLeader { Task.detached { await self.lead() } }
                case .startLeader: Task.detached { await self.lead() }
                }
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw map(error)
        }
    }

    /// Called by a caller that committed its own request: gives up the writer role, or, when
    /// callers queued meanwhile, passes it to a task that commits for them.
    private func ownCommitFinished() {
        switch committer.machine.withLock({ $0.ownCommitFinished() }) {
        case .none: break
        case .startLeader: Task.detached { await self.lead() }
        }
    }

    /// The leader's loop: commit the next batch in one transaction, and repeat until nothing
    /// is queued. A batch's callers are resumed as the next batch's commit begins, so that they
    /// run on another thread beside it and their next appends are queued when it ends: the
    /// writer and its callers work in turn on two halves of them instead of all waiting on one
    /// commit (a burn-down's time, 0.95×). When nothing is queued, the callers held are resumed
    /// and the leader yields, so that their next appends can gather into one batch (and it
    /// yields once every `batchesBetweenYields` batches in any case).
    private func lead() async {
        var held: [(request: GroupCommitter.Request, results: ArraySlice<Result<[StoredEvent], LedgerError>>)] = []
        var withoutYielding = 0
        while true {
            switch committer.machine.withLock({ $0.leaderReady(holding: !held.isEmpty) }) {
            case .stop:
                return
            case .nothingQueued:
                for h in held { h.request.continuation.resume(returning: Array(h.results)) }
                held.removeAll(keepingCapacity: true)
                withoutYielding = 0
                await Task.yield()
            case .commit(let batch):
                for h in held { h.request.continuation.resume(returning: Array(h.results)) }
                held.removeAll(keepingCapacity: true)
                // Appenders that keep the queue full (on threads of their own) must not keep the
                // leader on its thread of the cooperative pool for ever.
                withoutYielding += 1
                if withoutYielding == GroupCommitter.batchesBetweenYields {
                    withoutYielding = 0
                    await Task.yield()
                }
                let results = await commitLed(batch.flatMap(\.parts))
                var next = 0
                for r in batch {
                    held.append((r, results[next..<(next + r.parts.count)]))
                    next += r.parts.count
                }
            }
        }
    }

    /// The leader's commit of a batch: on its own thread when the write lock is free right now
    /// (no hop to GRDB's writer queue and back, which cost about a tenth of a millisecond per
    /// transaction of a busy engine's burn-down), else on the writer queue.
    private func commitLed(_ parts: [[PreparedEvent]]) async -> [Result<[StoredEvent], LedgerError>] {
        switch commitWithoutWaiting(parts: parts) {
        case .success(let results)?: return results
        case .failure(let e)?: return Array(repeating: .failure(e), count: parts.count)
        case nil: return await commit(parts)
        }
    }

    /// The uncontended fast path: commits on the caller's thread, but only if the write lock is
    /// free right now (busy timeout 0). Returns nil when another connection holds the lock;
    /// the caller then waits on GRDB's writer queue instead of blocking its own thread.
    private func withoutWaiting<T>(_ body: (Database) throws -> Result<T, LedgerError>) -> Result<T, LedgerError>? {
        // Another write of this ledger holds or waits for the writer queue: waiting for it
        // would block this thread of the cooperative pool.
        guard gate.tryEnterFast() else { return nil }
        defer { gate.leaveFast() }
        // Not counted in `use`, as the async writes are not (`gatedWrite`).
        guard !use.isClosing else { return .failure(.closed(path: path)) }
        let timeoutMs = busyTimeoutMilliseconds
        // The result leaves through a local, not as GRDB's return value: GRDB's generic
        // `writeWithoutTransaction` is not specialized for our types, so a returned
        // `Result<StoredEvent, …>` would be copied through value witnesses at every layer.
        var outcome: Result<T, LedgerError>?
        do {
            try pool.writeWithoutTransaction { db in
                let handle = try self.handle(db)
                sqlite3_busy_timeout(handle, 0)
                defer { sqlite3_busy_timeout(handle, timeoutMs) }
                outcome = try body(db)
            }
            return outcome
        } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
            return nil
        } catch {
            return .failure(map(error))
        }
    }

    /// A request of one event committed on the caller's thread; nil: take the async path.
    private func commitWithoutWaiting(_ p: PreparedEvent) -> Result<StoredEvent, LedgerError>? {
        commitWithoutWaiting { try appendRequest(p, db: $0, head: &$1, jobs: &$2, trustCache: $3) }
    }

    /// A request of several events committed on the caller's thread; nil: take the async path.
    private func commitWithoutWaiting(_ events: [PreparedEvent]) -> Result<[StoredEvent], LedgerError>? {
        commitWithoutWaiting { try appendRequest(events, db: $0, head: &$1, jobs: &$2, trustCache: $3) }
    }

    /// Several requests committed on the caller's thread in one transaction, each on its own;
    /// nil: take the async path.
    private func commitWithoutWaiting(parts: [[PreparedEvent]]) -> Result<[Result<[StoredEvent], LedgerError>], LedgerError>? {
        commitWithoutWaiting { db, head, jobs, trusted in
            try self.appendParts(parts, db: db, head: &head, jobs: &jobs, trusted: trusted)
        }
    }

    /// One request committed on the caller's thread (see `withoutWaiting`) by `append`, which
    /// is given the database, the head, the transaction's job states and whether the writer's
    /// cache is trusted: its events as stored, or why it was refused; nil when the caller must
    /// take the async path.
    private func commitWithoutWaiting<Output>(
        _ append: (Database, inout ChainHead, inout BatchStates, Bool) throws -> Output
    ) -> Result<Output, LedgerError>? {
        withoutWaiting { db in
            try writeBatch(db) { head, jobs, trusted in
                do {
                    return .success(try append(db, &head, &jobs, trusted))
                } catch let e as LedgerError {
                    return .failure(e)
                }
            }
        }
    }

    /// Commits the requests in one transaction; each request succeeds or fails on its own.
    /// SQLite runs on GRDB's writer queue, so a writer waiting for another process's lock
    /// never blocks a thread of Swift's cooperative pool.
    private func commit(_ batch: [[PreparedEvent]]) async -> [Result<[StoredEvent], LedgerError>] {
        do {
            return try await gatedWriteWithoutTransaction { db in
                try self.writeBatch(db) { head, jobs, trusted in
                    try self.appendParts(batch, db: db, head: &head, jobs: &jobs, trusted: trusted)
                }
            }
        } catch {
            return Array(repeating: .failure(map(error)), count: batch.count)
        }
    }

    /// Appends several requests in one transaction, each on its own: a refusal fails its
    /// request only; any other error (storage) fails the transaction. The INSERT statement is
    /// looked up once for them all, and the transaction's job states sized for them.
    private func appendParts(_ parts: [[PreparedEvent]], db: Database, head: inout ChainHead, jobs: inout BatchStates,
                             trusted: Bool) throws -> [Result<[StoredEvent], LedgerError>] {
        let insert = try insertStatement(db)
        jobs.reserve(parts.count)
        var results: [Result<[StoredEvent], LedgerError>] = []
        results.reserveCapacity(parts.count)
        for events in parts {
            do {
                results.append(.success(try appendRequest(events, db: db, head: &head, jobs: &jobs, trustCache: trusted, insert: insert)))
            } catch let e as LedgerError {
                results.append(.failure(e))
            }
        }
        return results
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, starting from the log's head (which
    /// `body` moves on as it appends) and telling it whether the writer's cache can be trusted;
    /// after the commit, still on the writer connection (so that no other write can run in
    /// between), records the head and the jobs' states in the cache.
    ///
    /// A log moved or deleted while open fails the transaction with a `vanished` storage fault
    /// before anything is written (`checkFileIsThere`): SQLite would commit into a file no one
    /// can open again, and every caller would be told its events were recorded. Looked at once
    /// per transaction, for every caller it commits, whoever appends (the engine, the server,
    /// the CLI), rather than once per caller before it queues.
    private func writeBatch<T>(_ db: Database, _ body: (inout ChainHead, inout BatchStates, Bool) throws -> T) throws -> T {
        var start = WriterCache.BatchStart(head: ChainHead(seq: 0, hash: HashChain.genesis), trusted: false, dataVersion: 0)
        var head = start.head
        var jobs = BatchStates(collecting: committer.observers.isActive)
        var result: T?
        try db.inImmediateTransaction {
            try checkFileIsThere()
            start = try committer.cache.beginBatch(db)
            head = start.head
            result = try body(&head, &jobs, start.trusted)
        }
        committer.cache.recordCommit(from: start, to: head, jobs: jobs, db: db)
        committer.observers.committed(jobs.appended)
        if !jobs.isEmpty { appended.signal() }
        return result!
    }

    /// Drops the remembered head, after a write that did not go through the committer (import).
    func forgetCachedHead() { committer.cache.forgetHead(); appended.signal() }
}
