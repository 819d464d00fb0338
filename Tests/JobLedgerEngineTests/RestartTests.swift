import Foundation
import JobLedger
@testable import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// An engine restarted on a log reads it from the start into its view and claims exactly what
/// an engine that never stopped claims; finished jobs stay out of its memory.
@Suite struct RestartTests {
    /// Two identical logs (the same job ids, times and events), worked by the same seeded
    /// engines: on one an engine works throughout; on the other it stops half-way and a new
    /// engine takes over from the log alone — folding it whole, or (with snapshots every 200
    /// events) starting from the engine snapshot the first engine left and the events after it.
    @Test(arguments: [nil, 200])
    func aRestartedEngineClaimsWhatOneThatNeverStoppedClaims(snapshotInterval: Int?) async throws {
        let a = try Fixture(), b = try Fixture()
        let jobs = 3_000
        var random = SplitMix64(seed: 3)
        var plan: [(JobID, String, Int, Int64?)] = []
        for i in 0..<jobs {
            let delay: Int64? = random.next() % 4 == 0 ? Int64(random.next() % 2_000) : nil
            plan.append((try JobID(String(format: "job-%05d", i)), ["x", "y"][Int(random.next() % 2)], Int(random.next() % 5), delay))
        }
        for f in [a, b] {
            for (id, kind, priority, delay) in plan {
                if id.rawValue.hasSuffix("0") { f.clock.advance(milliseconds: 1) }
                _ = try await f.ledger.append(NewEvent(job: id, payload: .queued(.init(
                    kind: kind, priority: priority, maxAttempts: 1, runAt: delay.map { f.clock.now().adding(milliseconds: $0) }))))
            }
        }
        func engine(_ f: Fixture) -> JobEngine {
            var o = JobEngine.Options(workerID: "w1")
            o.concurrency = 16
            o.randomSeed = 7
            o.snapshotIntervalEvents = snapshotInterval
            o.logger.logLevel = .warning  // thousands of jobs: no line per completion
            let e = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
            // Non-retryable failures for some: dead letters, one of which is requeued.
            let handler: JobHandler = { ctx in
                if ctx.job.rawValue.hasSuffix("7"), ctx.attempt == 1 { throw JobError(code: "bad", message: "", retryable: false) }
                return JobCompletion()
            }
            e.register(kind: "x", concurrency: 5, handler)
            e.register(kind: "y", handler)
            return e
        }
        func startedSince(_ f: Fixture, _ seq: inout Int64) throws -> [JobID] {
            var out: [JobID] = []
            try f.ledger.forEachEvent(from: seq + 1) { e in if e.type == .started { out.append(e.job) }; seq = e.seq }
            return out
        }
        let steady = engine(a)
        var first = engine(b)
        var seqA: Int64 = 0, seqB: Int64 = 0
        for round in 0..<1_000 {
            if round == 60 {
                // Requeue two dead letters on both logs, through the engine that will stop.
                let dead = try a.ledger.jobStates().values.filter { $0.status == .failed }.map(\.id).sorted().prefix(2)
                #expect(dead.count == 2)
                for id in dead { try await steady.retry(id); try await first.retry(id) }
            }
            if round == 120 {
                await first.state.withLock { $0.snapshot.writing }?.value
                first = engine(b)  // the restart: a new engine with nothing but the log
                await first.refresh()
                let startedFrom = first.state.withLock { $0.snapshot.seq }
                #expect(snapshotInterval == nil ? startedFrom == 0 : startedFrom > 1_000, "\(startedFrom)")
                let inFlight = try b.ledger.jobStates().values.filter { !$0.status.isTerminal }.count
                #expect(first.state.withLock { $0.view.count } == inFlight, "finished jobs are not kept")
            }
            let ran = try await steady.tick()
            try await first.tick()
            let got = try startedSince(b, &seqB), want = try startedSince(a, &seqA)
            await Task.yield()
            #expect(got == want, "round \(round)")
            if got != want { return }
            if ran == 0, round > 120, try a.ledger.jobStates().values.allSatisfy({ $0.status.isTerminal }) { break }
            a.clock.advance(milliseconds: 10)
            b.clock.advance(milliseconds: 10)
        }
        let left = try b.ledger.jobStates().values.filter { !$0.status.isTerminal }
        #expect(left.isEmpty)
        #expect(try b.ledger.jobStates().values.filter { $0.attempt == 2 }.count == 2)  // the two requeued dead letters ran again
    }
}
