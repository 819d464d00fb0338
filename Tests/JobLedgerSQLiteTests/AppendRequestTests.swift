import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// One validation path for requests of one event and of many: the same checks, the same
/// insert-first of a new job's `queued`, and all or nothing per request inside a shared
/// transaction.
@Suite struct AppendRequestTests {
    /// The insert-first of a `queued` (answered by `UNIQUE(job_id, version)`) also serves the
    /// first event of a request of several: a job that exists is validated against the log.
    @Test func aRequestOfSeveralEventsThatQueuesAJobTheLedgerDoesNotKnowIsValidatedAgainstTheLog() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let a = try Ledger.open(path: path)
        let b = try Ledger.open(path: path)
        for e in lifecycle(jid("done")) { _ = try await a.append(e) }
        _ = try await a.append([NewEvent(job: jid("dead"), payload: queued), NewEvent(job: jid("dead"), payload: started())])
        _ = try await a.append(NewEvent(job: jid("dead"), payload: .failed(.init(code: "E", message: "no", retryable: false, attempt: 1))))
        let head = try a.head()
        // b has cached neither job; a forgot both when they finished.
        for ledger in [a, b] {
            let refused = await expectLedgerError {
                _ = try await ledger.append([NewEvent(job: jid("done"), payload: queued), NewEvent(job: jid("done"), payload: started(2))])
            }
            #expect(refused == .rejected(LifecycleError(job: jid("done"), state: .completed, event: .queued, rule: .terminal)))
            #expect(try ledger.head() == head)
        }
        // A dead-letter requeue followed by its start lands after the job's events.
        let requeued = try await b.append([NewEvent(job: jid("dead"), payload: queued), NewEvent(job: jid("dead"), payload: started(2))])
        #expect(requeued.map(\.version) == [4, 5])
        #expect(requeued[0].prevHash == head?.hash && requeued[1].prevHash == requeued[0].hash)
        // A new job's request of several events starts at version 1.
        let fresh = try await b.append([NewEvent(job: jid("fresh"), payload: queued, expectedVersion: 0), NewEvent(job: jid("fresh"), payload: started())])
        #expect(fresh.map(\.version) == [1, 2])
        #expect(try a.verify().isValid)
    }

    /// A request refused half-way through a batch writes nothing, and later requests of the
    /// same transaction see the log as if it had never been made; each repeated idempotency
    /// key, within a request or across the batch, returns the first event stored with it.
    @Test func aRequestRefusedInsideASharedTransactionLeavesNoTraceForTheOthers() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config(busy: .seconds(120)))
        // Another connection holds the write lock: the first caller waits in SQLite with its own
        // request while the others queue behind it, to be committed together by the leader.
        let holder = try rawQueue(path)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let first = Task { try await ledger.append(NewEvent(job: jid("first"), payload: queued)) }
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while ledger.receivedAppends < 1 && ContinuousClock.now < deadline { await Task.yield() }
        // In this order: a request that moves x on and then is refused; one that queues x
        // afresh; one with a key used twice; one that repeats that key.
        let refused = Task {
            await expectLedgerError {
                _ = try await ledger.append([NewEvent(job: jid("x"), payload: queued), NewEvent(job: jid("x"), payload: started()),
                                             NewEvent(job: jid("x"), payload: queued)])
            }
        }
        while ledger.queuedAppends < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let afresh = Task { try await ledger.append(NewEvent(job: jid("x"), payload: queued)) }
        while ledger.queuedAppends < 2 && ContinuousClock.now < deadline { await Task.yield() }
        let keyed = Task {
            try await ledger.append([NewEvent(job: jid("y"), payload: queued, idempotencyKey: "once"),
                                     NewEvent(job: jid("z"), payload: queued, idempotencyKey: "once")])
        }
        while ledger.queuedAppends < 3 && ContinuousClock.now < deadline { await Task.yield() }
        let again = Task { try await ledger.append(NewEvent(job: jid("w"), payload: queued, idempotencyKey: "once")) }
        while ledger.queuedAppends < 4 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(ledger.queuedAppends == 4, "the requests did not all queue within 120 s")
        try await holder.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }

        #expect(try await first.value.seq == 1)
        #expect(await refused.value == .rejected(LifecycleError(job: jid("x"), state: .running, event: .queued, rule: .jobExists)))
        let x = try await afresh.value
        #expect(x.version == 1 && x.seq == 2)
        let k = try await keyed.value
        #expect(k[0] == k[1] && k[0].job == jid("y") && k[0].seq == 3)
        #expect(try await again.value == k[0])
        #expect(ledger.appendTransactions == 2, "the first caller's transaction, then the leader's one batch")
        #expect(try ledger.eventCount() == 3)
        #expect(try await ledger.state(of: jid("x"))?.status == .queued)
        // The writer's cache holds x as the log does: the next event for it is validated right.
        #expect(try await ledger.append(NewEvent(job: jid("x"), payload: started())).version == 2)
        #expect(try ledger.verify().isValid)
    }

    @Test func batchStatesHoldTheFirstJobInlineAndTheOthersByJob() {
        var states = BatchStates()
        #expect(states.isEmpty && states[jid("a")] == nil)
        let a1 = JobState.queuedForTest(jid("a")), b1 = JobState.queuedForTest(jid("b")), c1 = JobState.queuedForTest(jid("c"))
        states[jid("a")] = a1
        states[jid("b")] = b1
        #expect(states[jid("a")] == a1 && states[jid("b")] == b1 && states[jid("c")] == nil)
        // Forgetting the inline job leaves the others, and a job already held by job is
        // updated where it is, never held twice.
        states[jid("a")] = nil
        states[jid("b")] = c1
        states[jid("c")] = c1
        #expect(states[jid("a")] == nil && states[jid("b")] == c1 && states[jid("c")] == c1)
        var seen: [String] = []
        states.forEach { job, _ in seen.append(job.rawValue) }
        #expect(seen.sorted() == ["b", "c"])
        states[jid("b")] = nil
        states[jid("c")] = nil
        #expect(states.isEmpty)
    }
}

extension JobState {
    /// A job's state right after its `queued`.
    static func queuedForTest(_ job: JobID) -> JobState {
        try! Lifecycle.begin(job: job, with: queued, at: Timestamp(milliseconds: 1_795_000_000_000))
    }
}

/// A claim that brings the job's state as the claimer read it (`appendEach(_:knownStates:)`,
/// the engine's claim round) is not read again by the writer, yet still refused when the job
/// moved on after that read: the insert at the next version is what checks it.
@Suite struct KnownStateClaimTests {
    @Test func aClaimWithTheStateItReadIsAppendedAndOneWithAStaleStateIsRefused() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let submitter = try Ledger.open(path: path)
        for name in ["fresh", "taken", "gone"] { _ = try await submitter.append(NewEvent(job: jid(name), payload: queued, expectedVersion: 0)) }
        let worker = try Ledger.open(path: path)
        let read = try await worker.states(of: [jid("fresh"), jid("taken"), jid("gone")])
        // After the read, from the other connection: another worker claims one job, and
        // another job is canceled.
        _ = try await submitter.append(NewEvent(job: jid("taken"), payload: started(1, worker: "w2"), expectedVersion: 1))
        _ = try await submitter.append(NewEvent(job: jid("gone"), payload: .canceled(.init(reason: "no")), expectedVersion: 1))
        let head = try worker.head()
        let results = await worker.appendEach(["fresh", "taken", "gone"].map {
            NewEvent(job: jid($0), payload: started(1), expectedVersion: 1)
        }, knownStates: read)
        #expect(try results[0].get().version == 2)
        #expect(results[1].failureValue == .concurrencyConflict(job: jid("taken"), expected: 1, actual: 2))
        #expect(results[2].failureValue == .concurrencyConflict(job: jid("gone"), expected: 1, actual: 2))
        // Only the won claim was written, chained right after the head; the log still verifies.
        #expect(try worker.head()?.seq == (head?.seq ?? 0) + 1)
        #expect(try await worker.state(of: jid("fresh"))?.worker == "w1")
        #expect(try await worker.state(of: jid("taken"))?.worker == "w2")
        #expect(try worker.verify().isValid)
    }

    /// A known state for another version than the event expects is ignored: the writer reads
    /// the job from the log and the expectation is checked against that.
    @Test func aKnownStateAtAnotherVersionIsIgnored() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued, expectedVersion: 0))
        let atOne = try await ledger.states(of: [jid("a")])
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: started(1), expectedVersion: 1))
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: .failed(.init(code: "x", message: "", retryable: true, attempt: 1)), expectedVersion: 2))
        // The job is queued again at version 3; the stale state (version 1) must not stand in.
        let results = await ledger.appendEach([NewEvent(job: jid("a"), payload: started(2), expectedVersion: 3)], knownStates: atOne)
        #expect(try results[0].get().version == 4)
        #expect(try await ledger.state(of: jid("a"))?.attempt == 2)
    }
}

extension Result {
    var failureValue: Failure? { if case .failure(let e) = self { e } else { nil } }
}
