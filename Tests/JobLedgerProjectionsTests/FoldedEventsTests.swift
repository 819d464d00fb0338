import Foundation
import JobLedger
import JobLedgerSQLite
@testable import JobLedgerProjections
import Testing

/// `FoldedEvents`: the run of decoded, folded events a runner's projections share.
extension FoldedEvents {
    func record(_ batch: [Entry]) { for e in batch { add(e) } }
}

@Suite struct FoldedEventsTests {
    let job = JobID.generate(), other = JobID.generate()

    /// Entries for `seqs`, alternating between two jobs, each folded from the one before.
    func entries(_ seqs: ClosedRange<Int64>) throws -> [FoldedEvents.Entry] {
        var states: [JobID: JobState] = [:]
        var out: [FoldedEvents.Entry] = []
        for seq in seqs {
            let j = seq % 2 == 0 ? job : other
            let payload: EventPayload = states[j] == nil ? .queued(.init(kind: "design"))
                : .progress(.init(fraction: Double(seq) / 1000, message: nil, attempt: nil))
            if states[j]?.status == .queued {
                states[j] = try Lifecycle.apply(.started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 9_999_999_999_999))),
                                                to: states[j], job: j, at: Timestamp(milliseconds: seq))
            }
            let version = (states[j]?.version ?? 0) + 1
            let e = ProjectedEvent(seq: seq, job: j, version: version, payload: payload, recordedAt: Timestamp(milliseconds: seq))
            let after = try Lifecycle.apply(payload, to: states[j], job: j, at: e.recordedAt)
            states[j] = after
            out.append(FoldedEvents.Entry(event: e, after: after))
        }
        return out
    }

    @Test func servesWhatFollowsACheckpointInsideTheRunAndNothingElse() throws {
        let f = FoldedEvents(capacity: 100)
        #expect(f.events(after: 0, through: .max, limit: 10) == nil, "empty")
        f.record(try entries(5...20))
        #expect(f.events(after: 3, through: .max, limit: 10) == nil, "seq 4 is not held")
        #expect(f.events(after: 4, through: .max, limit: 3)?.map(\.seq) == [5, 6, 7])
        #expect(f.events(after: 10, through: 12, limit: 10)?.map(\.seq) == [11, 12])
        #expect(f.events(after: 18, through: .max, limit: 10)?.map(\.seq) == [19, 20])
        #expect(f.events(after: 20, through: .max, limit: 10) == nil, "the next one may be in the log")
        #expect(f.events(after: 10, through: 10, limit: 10) == nil)
        #expect(f.state(after: 12)?.version == (try entries(5...20))[7].after.version)
        #expect(f.state(after: 21) == nil)
    }

    /// Large payloads trim the run by bytes, not only by count: it keeps the newest events
    /// within about twice its byte limit, and still serves them.
    @Test func largePayloadsTrimTheRunByBytes() throws {
        let f = FoldedEvents(capacity: 1000, byteLimit: 1 << 20)
        let pad = JSONValue.string(String(repeating: "x", count: 100_000))
        for seq in Int64(1)...50 {
            let j = JobID.generate()
            let payload = EventPayload.queued(.init(kind: "k", input: ["pad": pad]))
            let e = ProjectedEvent(seq: seq, job: j, version: 1, payload: payload, recordedAt: Timestamp(milliseconds: seq))
            f.add(FoldedEvents.Entry(event: e, after: try Lifecycle.apply(payload, to: nil, job: j, at: e.recordedAt)))
        }
        // The run starts at the first seq it serves from.
        let start = try #require((Int64(0)..<50).first { f.events(after: $0, through: .max, limit: 1000) != nil })
        let held = try #require(f.events(after: start, through: .max, limit: 1000))
        #expect(held.last?.seq == 50)
        #expect(held.count >= 10 && held.count <= 21, "\(held.count) events of 100 kB held under a 1 MiB limit")
        #expect(start > 0, "the oldest were dropped")
    }

    @Test func aBatchThatContinuesTheRunExtendsItAnOlderOneIsLeftOutAGapStartsAgain() throws {
        let f = FoldedEvents(capacity: 100)
        f.record(try entries(10...20))
        f.record(try entries(15...25))             // overlaps: 21…25 added
        #expect(f.events(after: 9, through: .max, limit: 100)?.map(\.seq) == Array(10...25))
        f.record(try entries(1...5))               // older than the run: left out
        #expect(f.events(after: 9, through: .max, limit: 100)?.count == 16)
        f.record(try entries(30...31))             // a gap (26…29 are another process's): a new run
        #expect(f.events(after: 9, through: .max, limit: 100) == nil)
        #expect(f.events(after: 29, through: .max, limit: 100)?.map(\.seq) == [30, 31])
    }

    /// What a projection far behind the others folds is not theirs to keep: `add` says so, and
    /// that projection keeps its states itself.
    @Test func addTellsWhetherTheEventWasKept() throws {
        let f = FoldedEvents(capacity: 100)
        let batch = try entries(1...8)
        #expect(f.add(batch[4]))                   // seq 5 starts the run
        #expect(!f.add(batch[1]), "older than the run")
        #expect(!f.add(batch[4]), "already held")
        #expect(f.add(batch[5]))
        #expect(f.add(batch[7]), "after a gap: a new run")
        #expect(f.events(after: 4, through: .max, limit: 10) == nil)
        #expect(f.events(after: 7, through: .max, limit: 10)?.map(\.seq) == [8])
    }

    @Test func theRunStaysNearItsCapacity() throws {
        let f = FoldedEvents(capacity: 10)
        f.record(try entries(1...25))
        #expect(f.events(after: 0, through: .max, limit: 100) == nil, "the oldest were dropped")
        let held = try #require(f.events(after: 15, through: .max, limit: 100))
        #expect(held.map(\.seq) == Array(16...25))
    }

    @Test func beforeIsTheJobsLatestStateOnlyAtTheVersionBefore() throws {
        let f = FoldedEvents(capacity: 100)
        let batch = try entries(1...6)
        f.record(batch)
        let last = try #require(batch.last { $0.event.job == job }).after
        #expect(f.before(job, version: last.version + 1) == last)
        #expect(f.before(job, version: last.version) == nil, "not the state before that version")
        #expect(f.before(JobID.generate(), version: 2) == nil)
    }

    /// What the writer hands on waits until the run reaches it: it never starts a run (a
    /// projection catching up keeps sharing its own), events after a gap wait for the run to
    /// fill it, older ones are let go, and no more than about `capacity` wait.
    @Test func whatTheWriterHandsOnContinuesTheRunWhenItGetsThere() throws {
        let all = try entries(1...14)
        func slice(_ r: ClosedRange<Int64>) -> [FoldedEvents.Entry] { Array(all[Int(r.lowerBound - 1)..<Int(r.upperBound)]) }
        let f = FoldedEvents(capacity: 100)
        f.handOn(slice(5...8))
        #expect(f.events(after: 4, through: .max, limit: 10) == nil, "no run is started by the writer")
        f.record(slice(1...4))
        #expect(f.events(after: 4, through: .max, limit: 10)?.map(\.seq) == [5, 6, 7, 8])
        #expect(f.state(after: 8) == all[7].after)
        // After a gap (another process's appends): held back until the run reaches them.
        f.handOn(slice(12...14))
        #expect(f.events(after: 8, through: .max, limit: 10) == nil)
        f.record(slice(9...11))
        #expect(f.events(after: 8, through: .max, limit: 10)?.map(\.seq) == Array(9...14))
        // Older than the run: let go, nothing twice.
        f.handOn(slice(3...6))
        #expect(f.events(after: 0, through: .max, limit: 100)?.map(\.seq) == Array(1...14))

        // At most about `capacity` wait; the oldest are left to the log.
        let small = FoldedEvents(capacity: 4)
        small.record(slice(1...1))
        small.handOn(slice(3...4)); small.handOn(slice(5...6)); small.handOn(slice(7...8))
        small.record(slice(2...2))
        #expect(small.events(after: 2, through: .max, limit: 10) == nil, "3 and 4 were let go")
        small.record(slice(3...4))
        #expect(small.events(after: 4, through: .max, limit: 10)?.map(\.seq) == [5, 6, 7, 8])
    }
}

/// `ProjectionRunner.readEvents`: what the run holds, no further than the reader's snapshot,
/// and a batch the run ends early completed from the log.
@Suite struct SharedReadTests {
    @Test func theRunIsServedNoFurtherThanTheSnapshotAndABatchItCutsIsCompletedFromTheLog() async throws {
        let f = try Fixture()
        var jobs: [JobID] = []
        for _ in 0..<20 {
            jobs.append(JobID.generate())
            _ = try await f.ledger.append(NewEvent(job: jobs.last!, payload: .queued(.init(kind: "design"))))
        }
        func entry(_ e: ProjectedEvent) throws -> FoldedEvents.Entry {
            FoldedEvents.Entry(event: e, after: try Lifecycle.apply(e.payload, to: nil, job: e.job, at: e.recordedAt))
        }
        let stored = try await f.ledger.pool.read { db in try Ledger.projectedEvents(db, after: 0, through: .max, limit: 100) }
        #expect(stored.count == 20)

        // A run of seqs 5…10: a batch it ends early is completed from the log.
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock)
        for e in stored[4..<10] { runner.folded.add(try entry(e)) }
        let read = runner.readEvents
        #expect(try await f.ledger.pool.read { db in try read(db, 4, .max, 3) }.map(\.seq) == [5, 6, 7])
        let completed = try await f.ledger.pool.read { db in try read(db, 4, .max, 100) }
        #expect(completed.map(\.seq) == Array(5...20), "the run's 6, then the log's 10")
        #expect(completed.map(\.job) == Array(jobs[4...]))
        #expect(try await f.ledger.pool.read { db in try read(db, 4, 12, 100) }.map(\.seq) == Array(5...12))

        // A run that reaches past what a reader's snapshot holds (seqs 21 and 22, as events
        // appended after the snapshot would be): served no further than the snapshot's head.
        let ahead = ProjectionRunner(ledger: f.ledger, clock: f.clock)
        for e in stored[4...] { ahead.folded.add(try entry(e)) }
        for seq in Int64(21)...22 {
            ahead.folded.add(try entry(ProjectedEvent(seq: seq, job: JobID.generate(), version: 1, payload: .queued(.init(kind: "design")),
                                                      recordedAt: f.clock.now())))
        }
        let readAhead = ahead.readEvents
        #expect(try await f.ledger.pool.read { db in try readAhead(db, 18, .max, 100) }.map(\.seq) == [19, 20])
        #expect(try await f.ledger.pool.read { db in try readAhead(db, 20, .max, 100) }.isEmpty)
    }
}
