import Foundation
import GRDB
import JobLedger
@testable import JobLedgerEngine
@testable import JobLedgerSQLite
import Logging
import Testing

/// The engine's snapshots: the stored form reads back exactly and refuses any damage; an engine
/// starts from the log's snapshot (and reads none of the events before it) only when the
/// snapshot belongs to the log, and folds the whole log otherwise.
@Suite struct EngineSnapshotTests {
    func engine(_ f: Fixture, interval: Int?, logger: Logger? = nil) -> JobEngine {
        var o = JobEngine.Options(workerID: "w")
        o.randomSeed = 7
        o.concurrency = 8
        o.snapshotIntervalEvents = interval
        o.logger.logLevel = .warning  // hundreds of jobs: no line per completion
        if let logger { o.logger = logger }
        let e = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        e.register(kind: "k") { _ in JobCompletion() }
        return e
    }

    /// Queues `n` jobs: three in four of kind `k` (prioritised differently), the others of a kind
    /// nobody here runs (some of them delayed). Returns their ids.
    @discardableResult
    func submit(_ f: Fixture, _ n: Int) async throws -> [JobID] {
        var ids: [JobID] = []
        for i in 0..<n {
            f.clock.advance(milliseconds: 1)
            let other = i % 4 == 3
            ids.append(JobID.generate(at: f.clock.now()))
            _ = try await f.ledger.append(NewEvent(job: ids[i], payload: .queued(.init(
                kind: other ? "other" : "k", priority: i % 5 - 2, runAt: other && i % 3 == 0 ? f.clock.now().adding(milliseconds: 50_000) : nil))))
        }
        return ids
    }

    /// A view's fold as its snapshot stores it, kinds by name and jobs sorted: two views that
    /// hold the same compare equal.
    struct Fold: Equatable {
        struct Job: Equatable { var id: JobID, version: Int, kind: String, priority: Int, createdAt: Timestamp, runAt: Timestamp }
        var seq: Int64, jobs: [Job], unresolved: [JobID]
    }

    func fold(_ e: JobEngine) throws -> Fold {
        var parts: [[UInt8]] = []
        let head = try e.state.withLock { s in try s.view.writeSnapshot { parts.append($0) }.head }
        let jobs = try parts.flatMap { try EngineSnapshot.decodePart($0, seq: head.seq, kinds: head.kinds.count) }
        return Fold(seq: head.seq, jobs: jobs.map { .init(id: $0.id, version: $0.version, kind: head.kinds[$0.kind], priority: $0.priority,
                                                          createdAt: $0.createdAt, runAt: $0.runAt) }.sorted { $0.id < $1.id },
                    unresolved: head.unresolved)
    }

    func storedSeq(_ f: Fixture) throws -> Int64? { try f.ledger.readEngineSnapshot { seq, _, _, _ in seq } }

    @Test func theStoredFormReadsBackAndRefusesDamage() throws {
        var random = SplitMix64(seed: 11)
        var jobs: [EngineSnapshot.Job] = []
        for i in 0..<300 {
            let created = Int64(bitPattern: random.next() % 4_000_000_000_000) - 1_000_000_000_000
            jobs.append(.init(id: try JobID(String(format: "job-%04d", i)), version: 1 + Int(random.next() % 5), kind: Int(random.next() % 3),
                              priority: Int(Int64(bitPattern: random.next()) % 1_000_000), createdAt: Timestamp(milliseconds: created),
                              runAt: Timestamp(milliseconds: created + Int64(random.next() % 100_000) - 50_000)))
        }
        let head = EngineSnapshot.Head(seq: 123_456_789, kinds: ["k", "ünïcode kind", "x"], unresolved: [try JobID("run-1"), try JobID("run-2")])
        let headBody = EngineSnapshot.encode(head), part = EngineSnapshot.encode(part: jobs, seq: head.seq)
        #expect(try EngineSnapshot.decodeHead(headBody) == head)
        #expect(try EngineSnapshot.decodePart(part, seq: head.seq, kinds: 3) == jobs)
        // A part of another snapshot, a head where a part belongs, a kind the head does not name.
        #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodePart(part, seq: head.seq + 1, kinds: 3) }
        #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodePart(headBody, seq: head.seq, kinds: 3) }
        #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodeHead(part) }
        #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodePart(part, seq: head.seq, kinds: 2) }
        // Every truncation, and a flipped bit anywhere, is refused.
        for n in stride(from: 0, to: part.count, by: 7) {
            #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodePart(Array(part.prefix(n)), seq: head.seq, kinds: 3) }
        }
        for i in stride(from: 0, to: part.count, by: 13) {
            var bad = part
            bad[i] ^= 0x10
            #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodePart(bad, seq: head.seq, kinds: 3) }
        }
        for i in 0..<headBody.count {
            var bad = headBody
            bad[i] ^= 0x01
            #expect(throws: EngineSnapshot.Unreadable.self) { try EngineSnapshot.decodeHead(bad) }
        }
    }

    /// An engine that worked part of a backlog leaves a snapshot when its work returns; the next
    /// engine starts from it with the same view an engine folding the whole log has, and never
    /// reads the events before it: a damaged early event stops the full fold, not it.
    @Test func aNewEngineStartsFromTheSnapshotAndReadsOnlyWhatFollows() async throws {
        let f = try Fixture()
        try await submit(f, 400)
        let first = engine(f, interval: 100_000)
        for _ in 0..<10 { try await first.tick() }  // 80 of the ready ones run
        try await first.workUntilIdle()  // runs the rest of kind k, then stops
        let stored = try #require(try storedSeq(f))
        let head = try #require(try f.ledger.head())
        #expect(stored == head.seq)

        // More history after the snapshot: new jobs, one of them started elsewhere.
        let last = try await submit(f, 40)[38]  // of kind k, due
        _ = try await f.ledger.append(NewEvent(job: last, payload: .started(.init(worker: "elsewhere", attempt: 1,
                                                                                       leaseDeadline: f.clock.now().adding(milliseconds: 30_000)))))
        let fromSnapshot = engine(f, interval: 100_000), whole = engine(f, interval: nil)
        await fromSnapshot.refresh()
        await whole.refresh()
        #expect(fromSnapshot.state.withLock { $0.snapshot.seq } == stored)
        #expect(whole.state.withLock { $0.snapshot.seq } == 0)
        let a = try fold(fromSnapshot), b = try fold(whole)
        let same = a == b  // (not printed: thousands of jobs)
        #expect(same)
        let queued = try f.ledger.jobStates().values.filter { $0.status == .queued }.count
        #expect(a.jobs.count == queued && a.unresolved == [last] && queued == 100 + 39)

        // An early event made unreadable (behind the log's back): the full fold stops on it,
        // the start from the snapshot does not see it.
        try await f.ledger.writeTransaction { db in
            try db.execute(sql: "DROP TRIGGER events_no_update")
            try db.execute(sql: #"UPDATE events SET payload = '{"fraction":"most"}' WHERE seq = (SELECT min(seq) FROM events WHERE type = 'completed')"#)
        }
        // (A storage error naming the seq, which the engine logs and retries: no job is claimed.)
        #expect(try await engine(f, interval: nil).tick() == 0)
        let late = engine(f, interval: 100_000)
        #expect(try await late.tick() > 0)
    }

    /// A snapshot that does not belong to the log (the event at its seq has another hash) or
    /// does not decode is never started from: the engine folds the whole log, with a warning
    /// for a damaged one, and claims what it should.
    @Test(arguments: ["foreign", "damaged"])
    func aSnapshotThatDoesNotFitIsIgnored(_ how: String) async throws {
        let f = try Fixture()
        try await submit(f, 60)
        try await engine(f, interval: 100_000).workUntilIdle()
        #expect(try storedSeq(f) != nil)
        try await submit(f, 20)
        try await f.ledger.writeTransaction { db in
            if how == "foreign" {
                try db.execute(sql: "UPDATE engine_snapshots SET hash = ?", arguments: [String(repeating: "0", count: 64)])
            } else {
                var body = [UInt8](try Data.fetchOne(db, sql: "SELECT body FROM engine_snapshot_parts WHERE part = 1") ?? Data())
                body[body.count / 2] ^= 0x01
                try db.execute(sql: "UPDATE engine_snapshot_parts SET body = ? WHERE part = 1", arguments: [Data(body)])
            }
        }
        #expect((try storedSeq(f) == nil) == (how == "foreign"))
        let records = Recorder<CapturingLogHandler.Record>()
        let e = engine(f, interval: 100_000, logger: Logger(label: "test") { _ in CapturingLogHandler(records: records) })
        await e.refresh()
        #expect(e.state.withLock { $0.snapshot.seq } == 0)
        let queued = try f.ledger.jobStates().values.filter { $0.status == .queued }.count
        #expect(e.state.withLock { $0.view.count } == queued)
        let warned = records.all.contains { $0.level == .warning && $0.message.contains("engine snapshot") && $0.message.contains("checksum") }
        #expect(warned == (how == "damaged"))
        try await e.workUntilIdle()
        #expect(try f.ledger.jobStates().values.filter { $0.kind == "k" && $0.status == .queued && $0.runAt <= f.clock.now() }.isEmpty)
        // Its own snapshot replaced the one that did not fit.
        #expect(try storedSeq(f) == (try f.ledger.head())?.seq)
    }

    /// An engine writes a snapshot on its own once enough events have passed, not before.
    @Test func snapshotsAreWrittenAsTheLogGrows() async throws {
        let f = try Fixture()
        try await submit(f, 200)
        let e = engine(f, interval: 300)
        try await e.tick()
        await e.state.withLock { $0.snapshot.writing }?.value
        #expect(try storedSeq(f) == nil, "200 events: under the interval")
        for _ in 0..<20 { try await e.tick() }
        await e.state.withLock { $0.snapshot.writing }?.value
        let stored = try #require(try storedSeq(f))
        #expect(stored >= 300)
    }
}
