import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The group committer's decisions, without SQLite: who commits, who waits, what each batch
/// holds. Requests are plain numbers here.
@Suite struct GroupCommitStateMachineTests {
    typealias Machine = GroupCommitStateMachine<Int>

    /// The batch a leader is handed, or nil when it is told to stop.
    static func batch(_ action: Machine.LeaderAction) -> [Int]? {
        switch action {
        case .commit(let b): return b
        case .stop: return nil
        case .nothingQueued:
            Issue.record("the leader kept the role without holding anyone")
            return nil
        }
    }

    @Test func aLeaderHoldingCallersKeepsTheRoleWhileNothingIsQueued() {
        // The leader resumes a batch's callers as the next commit begins; while it still holds
        // them and nothing is queued, it keeps the role (their next appends will come to it).
        var m = Machine(maxBatch: 8)
        #expect(m.appendArrived() == .commitNow)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(1) == .wait)
        #expect(m.ownCommitFinished() == .startLeader)
        #expect(Self.batch(m.leaderReady()) == [1])
        guard case .nothingQueued = m.leaderReady(holding: true) else { Issue.record("ended while holding callers"); return }
        #expect(m.isCommitting, "the role is still the leader's")
        // A held caller, resumed, appends again: it queues for the same leader.
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(2) == .wait)
        #expect(Self.batch(m.leaderReady(holding: true)) == [2])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(!m.isCommitting)
    }

    @Test func afterACommitOthersQueuedBehindALoneArrivalQueuesForALeaderInstead() {
        // Under concurrent load a caller committing alone makes a transaction of one request;
        // after a commit with callers queued behind it, the next one to find the role free
        // hands it to a leader, and those arriving meanwhile share its transaction.
        var m = Machine(maxBatch: 8)
        #expect(m.appendArrived() == .commitNow)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(1) == .wait)
        #expect(m.ownCommitFinished() == .startLeader)
        #expect(m.contended)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(2) == .wait)
        #expect(Self.batch(m.leaderReady()) == [1, 2])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(!m.isCommitting && m.contended, "its last batch held two requests")
        #expect(m.appendArrived() == .queueAndLead)
        #expect(m.isCommitting, "the role is the leader's from the arrival on")
        #expect(m.appendArrived() == .enqueue, "a newcomer queues behind it")
        #expect(m.requestQueued(3) == .wait)
        #expect(m.requestQueued(4) == .wait)
        #expect(Self.batch(m.leaderReady()) == [3, 4])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(m.contended)
        // Leaders that find one request each: only after several in a row does the next caller
        // commit at once again (one lone request under load says little).
        for r in 0..<Machine.quietCommitsToCommitAlone {
            #expect(m.appendArrived() == .queueAndLead)
            #expect(m.requestQueued(10 + r) == .wait)
            #expect(Self.batch(m.leaderReady()) == [10 + r])
            #expect(Self.batch(m.leaderReady()) == nil)
        }
        #expect(!m.contended)
        #expect(m.appendArrived() == .commitNow)
        #expect(m.ownCommitFinished() == .none)
        #expect(!m.contended)
    }

    @Test func aLeaderThatCommitsSeveralRequestsOneAtATimeCountsAsContended() {
        // Callers resumed by a leader append again and find it still there, one per batch:
        // that leader was shared, and the next lone arrival queues for a leader too.
        var m = Machine(maxBatch: 8)
        #expect(m.appendArrived() == .commitNow)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.ownCommitFinished() == .none)
        #expect(!m.contended, "nobody had queued behind that commit yet")
        #expect(m.requestQueued(1) == .startLeader)
        #expect(Self.batch(m.leaderReady()) == [1])
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(2) == .wait)
        #expect(Self.batch(m.leaderReady(holding: true)) == [2])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(m.contended)
        #expect(m.appendArrived() == .queueAndLead)
    }

    @Test func aCallerThatFindsNobodyCommittingCommitsAtOnceAndLeavesTheRoleFree() {
        var m = Machine(maxBatch: 8)
        #expect(!m.isCommitting)
        for _ in 0..<3 {
            #expect(m.appendArrived() == .commitNow)
            #expect(m.isCommitting)
            #expect(m.ownCommitFinished() == .none)
            #expect(!m.isCommitting && m.waiting == 0)
        }
        #expect(m.arrivals == 3)
    }

    @Test func callersThatArriveDuringACommitQueueAndLeadershipPassesOnToALeader() {
        var m = Machine(maxBatch: 8)
        #expect(m.appendArrived() == .commitNow)
        // Two callers arrive while the first commits: both queue and wait.
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(1) == .wait)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(2) == .wait)
        #expect(m.waiting == 2)
        // The first caller is done: the role passes to a leader task, which takes both at once.
        #expect(m.ownCommitFinished() == .startLeader)
        #expect(m.isCommitting)
        // A third arrives before the leader runs: it joins the leader's first batch.
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(3) == .wait)
        #expect(Self.batch(m.leaderReady()) == [1, 2, 3])
        // While the leader commits, newcomers queue for its next batch instead of committing.
        #expect(m.appendArrived() == .enqueue)
        #expect(m.requestQueued(4) == .wait)
        #expect(Self.batch(m.leaderReady()) == [4])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(!m.isCommitting)
        // Free again, but callers queued behind those commits: the next one queues for a leader
        // (see `afterACommitOthersQueuedBehindALoneArrivalQueuesForALeaderInstead`).
        #expect(m.appendArrived() == .queueAndLead)
        #expect(m.requestQueued(5) == .wait)
        #expect(Self.batch(m.leaderReady()) == [5])
        #expect(Self.batch(m.leaderReady()) == nil)
    }

    @Test func aRequestQueuedAfterTheCommitterLeftStartsALeader() {
        // Told to enqueue while someone committed, the caller queues only after that commit
        // has ended: nobody would commit its request unless it starts a leader.
        var m = Machine(maxBatch: 8)
        #expect(m.appendArrived() == .commitNow)
        #expect(m.appendArrived() == .enqueue)
        #expect(m.ownCommitFinished() == .none)
        #expect(m.requestQueued(7) == .startLeader)
        #expect(m.appendArrived() == .enqueue, "a leader holds the role until its queue is empty")
        #expect(m.requestQueued(8) == .wait)
        #expect(Self.batch(m.leaderReady()) == [7, 8])
        #expect(Self.batch(m.leaderReady()) == nil)
        #expect(!m.isCommitting)
    }

    @Test func batchesHoldAtMostMaxBatchRequestsOldestFirst() {
        var m = Machine(maxBatch: 1024)
        #expect(m.appendArrived() == .commitNow)
        for r in 0..<2500 {
            #expect(m.appendArrived() == .enqueue)
            #expect(m.requestQueued(r) == .wait)
        }
        #expect(m.ownCommitFinished() == .startLeader)
        var batches: [[Int]] = []
        while let b = Self.batch(m.leaderReady()) { batches.append(b) }
        #expect(batches.map(\.count) == [1024, 1024, 452])
        #expect(batches.flatMap { $0 } == Array(0..<2500))
        #expect(!m.isCommitting && m.waiting == 0 && m.arrivals == 2501)
    }

    /// Callers and leaders interleaved at random (seeded, so a failure repeats): callers arrive,
    /// take their time between being told to enqueue and queueing, commits and batches end in
    /// any order the actions allow. Whatever the interleaving, at most one party holds the
    /// writer role, every request is committed exactly once, queued requests are committed in
    /// the order they queued, no batch exceeds `maxBatch`, and nothing is left waiting.
    @Test(arguments: 0..<200) func randomInterleavingsNeverDropOrDuplicateARequest(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let maxBatch = Int(rng.next() % 6) + 1
        let requests = Int(rng.next() % 150) + 1
        var m = Machine(maxBatch: maxBatch)
        var arrived = 0
        var ownCommit: Int?  // the request a caller commits on its own thread
        var gap: [Int] = []  // told to enqueue, not yet queued
        var leaderAlive = false  // a leader task was started (or is to be) and has not stopped
        var leaderStarter: Int?  // told to queue and lead: the leader starts once this request queued
        var leaderBatch: [Int]?  // the batch it is committing
        var leaderHolds = false  // it holds the callers of its last batch, not yet resumed
        var queuedOrder: [Int] = []
        var batchedOrder: [Int] = []
        var committed = Array(repeating: 0, count: requests)

        while true {
            var steps: [Int] = []
            if arrived < requests { steps.append(0) }
            if !gap.isEmpty { steps.append(1) }
            if ownCommit != nil { steps.append(2) }
            if leaderAlive && leaderBatch == nil && leaderStarter == nil { steps.append(3) }
            if leaderBatch != nil { steps.append(4) }
            guard let step = steps.randomElement(using: &rng) else { break }
            switch step {
            case 0:
                let r = arrived
                arrived += 1
                switch m.appendArrived() {
                case .commitNow:
                    #expect(ownCommit == nil && !leaderAlive, "commit now while someone holds the role")
                    ownCommit = r
                case .enqueue:
                    #expect(ownCommit != nil || leaderAlive, "told to enqueue while nobody commits")
                    gap.append(r)
                case .queueAndLead:
                    #expect(ownCommit == nil && !leaderAlive, "told to lead while someone holds the role")
                    leaderAlive = true
                    leaderStarter = r
                    gap.append(r)
                }
            case 1:
                let r = gap.remove(at: Int(rng.next() % UInt64(gap.count)))
                queuedOrder.append(r)
                if leaderStarter == r { leaderStarter = nil }  // queued: it starts the leader now
                switch m.requestQueued(r) {
                case .wait:
                    #expect(ownCommit != nil || leaderAlive, "waiting with nobody to commit")
                case .startLeader:
                    #expect(ownCommit == nil && !leaderAlive, "a second leader")
                    leaderAlive = true
                }
            case 2:
                committed[ownCommit!] += 1
                ownCommit = nil
                switch m.ownCommitFinished() {
                case .none: #expect(m.waiting == 0, "requests left waiting with nobody to commit them")
                case .startLeader: leaderAlive = true
                }
            case 3:
                switch m.leaderReady(holding: leaderHolds) {
                case .commit(let b):
                    #expect(!b.isEmpty && b.count <= maxBatch)
                    leaderBatch = b
                    batchedOrder += b
                case .stop:
                    #expect(!leaderHolds, "ended while holding callers")
                    leaderAlive = false
                case .nothingQueued:
                    #expect(leaderHolds && m.waiting == 0, "kept the role without reason")
                }
                leaderHolds = false  // resumed as the next batch begins, or now
            default:
                for r in leaderBatch! { committed[r] += 1 }
                leaderBatch = nil
                leaderHolds = rng.next() % 2 == 0
            }
            #expect(m.isCommitting == (ownCommit != nil || leaderAlive))
        }
        #expect(committed.allSatisfy { $0 == 1 }, "seed \(seed): each request committed exactly once")
        #expect(batchedOrder == queuedOrder, "seed \(seed): batches in queue order")
        #expect(!m.isCommitting && m.waiting == 0 && m.arrivals == requests)
    }
}
