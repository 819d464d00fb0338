import Foundation
import GRDB
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// A worker whose lease expired can come back at any moment; nothing it does after that may
/// land in the attempt that replaced it.
@Suite struct FencingEngineTests {
    /// A second engine on the same file, through its own connection.
    func secondEngine(_ f: Fixture, _ worker: String) throws -> JobEngine { try f.engineOnAnotherLedger(worker) }

    func events(_ f: Fixture, _ job: JobID) throws -> [StoredEvent] {
        var out: [StoredEvent] = []
        try f.ledger.forEachEvent(of: job) { out.append($0) }
        return out
    }

    @Test func aWorkerBackFromAnExpiredLeaseWritesNothingAndItsHandlerIsCancelled() async throws {
        let f = try Fixture()
        let a = f.engine("A")
        let b = try secondEngine(f, "B")
        let frozen = Gate()
        let entered = Recorder<Int>()
        let seen = Recorder<String>()
        a.register(kind: "k") { ctx in
            entered.add(ctx.attempt)
            while !frozen.isOpen { await Task.yield() }  // paused: deaf to everything
            do {
                try await ctx.progress(0.9, message: "A is back")
                seen.add("progress accepted")
            } catch let lost as ClaimLost {
                seen.add("lost attempt \(lost.attempt)")
            }
            seen.add(Task.isCancelled ? "cancelled" : "not cancelled")
            return JobCompletion(output: ["by": "A"])
        }
        b.register(kind: "k") { ctx in
            try await ctx.progress(0.5)
            return JobCompletion(output: ["by": "B"])
        }
        let job = try await a.submit(kind: "k")
        let aWork = Task { try await a.tick() }
        await until("A's handler to start") { entered.all == [1] }
        f.clock.advance(milliseconds: 31_000)  // A's lease runs out while it is frozen
        #expect(try await b.tick() == 1)       // B requeues the job and runs attempt 2 to the end
        frozen.release()
        _ = try await aWork.value

        #expect(seen.all == ["lost attempt 1", "cancelled"])
        let e = try events(f, job)
        #expect(e.map(\.type) == [.queued, .started, .failed, .started, .progress, .completed])
        #expect(e.filter { $0.type == .completed }.count == 1)
        #expect(e.last?.payload == .completed(.init(output: ["by": "B"], attempt: 2)))
        // Nothing after B's claim names attempt 1.
        #expect(e.dropFirst(3).allSatisfy { $0.payload.claim != 1 })
        #expect(try f.ledger.verify().isValid)
    }

    @Test func anOutcomeReturnedAfterTheClaimWasLostIsNotRecorded() async throws {
        let f = try Fixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let a = f.engine("A", logInto: records)
        let b = try secondEngine(f, "B")
        let frozen = Gate()
        let entered = Recorder<Int>()
        a.register(kind: "k") { ctx in
            entered.add(ctx.attempt)
            while !frozen.isOpen { await Task.yield() }
            return JobCompletion(output: ["by": "A"])  // returns without reporting anything first
        }
        b.register(kind: "k") { _ in JobCompletion(output: ["by": "B"]) }
        let job = try await a.submit(kind: "k")
        let aWork = Task { try await a.tick() }
        await until("A's handler to start") { entered.all == [1] }
        f.clock.advance(milliseconds: 31_000)
        #expect(try await b.tick() == 1)
        frozen.release()
        _ = try await aWork.value

        let e = try events(f, job)
        #expect(e.filter { $0.type == .completed }.map(\.payload) == [.completed(.init(output: ["by": "B"], attempt: 2))])
        let warnings = records.all.filter { $0.level == .warning && $0.message.contains("lost its claim") }
        #expect(warnings.count == 1, "\(records.all.map(\.message))")
        #expect(warnings.first?.message.contains("attempt 1 lost its claim") == true)
    }

    @Test func aRunningEngineCancelsAnAttemptWhoseJobMovedOnWithoutIt() async throws {
        let f = try Fixture()
        let a = f.engine("A")
        let b = try secondEngine(f, "B")
        let entered = Recorder<Int>()
        let ended = Recorder<String>()
        a.register(kind: "k") { ctx in
            entered.add(ctx.attempt)
            while !ctx.isCancelled { await Task.yield() }
            ended.add("cancelled")
            throw CancellationError()
        }
        b.register(kind: "k") { _ in JobCompletion(output: ["by": "B"]) }
        let job = try await a.submit(kind: "k")
        let aRun = Task { try await a.work(pollInterval: .milliseconds(5)) }
        await until("A's handler to start") { entered.all == [1] }
        f.clock.advance(milliseconds: 31_000)
        #expect(try await b.tick() == 1)
        // A sees, in the log, that its job moved on: it cancels its own handler.
        await until("A to cancel its handler") { ended.all == ["cancelled"] }
        await until("A's attempt to end") { a.runningCount == 0 }
        aRun.cancel()
        _ = try? await aRun.value
        let e = try events(f, job)
        #expect(e.map(\.type) == [.queued, .started, .failed, .started, .completed])
    }

    /// Holds the write lock from another connection until `release`.
    final class WriteLock: Sendable {
        let queue: DatabaseQueue
        init(_ path: String) throws {
            var c = Configuration()
            c.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: path, configuration: c)
            try queue.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        }
        func release() throws { try queue.writeWithoutTransaction { try $0.execute(sql: "COMMIT") } }
    }

    func lockedFixture(busyMilliseconds: Int64 = 50) throws -> (Fixture, Ledger) {
        let f = try Fixture()
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        c.busyTimeout = .milliseconds(busyMilliseconds)
        return (f, try Ledger.open(path: f.dir.path("jobs.sqlite"), configuration: c))
    }

    func engine(_ ledger: Ledger, _ f: Fixture, records: Recorder<CapturingLogHandler.Record>) -> JobEngine {
        var o = JobEngine.Options(workerID: "w")
        o.logger = Logger(label: "test") { _ in CapturingLogHandler(records: records) }
        o.randomSeed = 3
        return JobEngine(ledger: ledger, clock: f.clock, options: o)
    }

    /// A preview that could not be recorded before the lease ran out (another process held the
    /// write lock) ends the attempt as a lost claim, left to the lease sweep, as the engine's log
    /// line says. The storage error went back into the handler, which rethrew it, and the
    /// attempt was recorded as the handler's own failure (`handler_error`), using up an attempt.
    @Test func aPreviewNotRecordedBeforeTheLeaseRanOutIsALostClaimNotAHandlerError() async throws {
        let (f, ledger) = try lockedFixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = engine(ledger, f, records: records)
        let entered = Gate(), go = Gate(), unlocked = Gate()
        let seen = Recorder<String>()
        engine.register(kind: "k") { ctx in
            entered.release()
            await until("the test to hold the lock") { go.isOpen }
            do { try await ctx.lowres(Data("preview".utf8), contentType: "image/png") } catch {
                seen.add("\(type(of: error))")
                // The lock is gone by the time the handler's error comes back: whatever the
                // engine records of the attempt now, it can.
                await until("the test to release the lock") { unlocked.isOpen }
                throw error
            }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 2)
        let work = Task { try await engine.tick() }
        await until("the handler to start") { entered.isOpen }
        let lock = try WriteLock(f.dir.path("jobs.sqlite"))
        go.release()
        await until("a warning that the preview waits") { records.all.contains { $0.message.contains("could not record lowres") } }
        f.clock.advance(milliseconds: 31_000)  // past the lease (30 s)
        await until("the handler to see the preview refused") { !seen.all.isEmpty }
        try lock.release()
        unlocked.release()
        _ = try await work.value
        #expect(seen.all == ["ClaimLost"])
        #expect(try f.types(job) == [.queued, .started], "nothing recorded for the attempt: the sweep requeues it")
        _ = try await engine.tick()  // the lease sweep
        let e = try events(f, job)
        #expect(Array(e.map(\.type).prefix(3)) == [.queued, .started, .failed])
        if e.count > 2, case .failed(let failed) = e[2].payload { #expect(failed.code == "lease_expired") } else { Issue.record("no failure: \(e)") }
    }

    @Test(arguments: ["cancel", "shutdown"])
    func anOutcomeOfACancelledAttemptIsRecordedOnceTheLockIsReleased(_ how: String) async throws {
        let (f, ledger) = try lockedFixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = engine(ledger, f, records: records)
        let entered = Recorder<Int>()
        engine.register(kind: "k") { ctx in
            entered.add(ctx.attempt)
            while !ctx.isCancelled { await Task.yield() }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until("the handler to start") { entered.all == [1] }
        let lock = try WriteLock(f.dir.path("jobs.sqlite"))
        let stopping: Task<Void, any Error>
        if how == "cancel" {
            stopping = Task { try await engine.cancel(job, reason: "operator") }
        } else {
            stopping = Task { await engine.shutdown(drain: .zero) }
        }
        // The outcome waits for the lock (busy timeout 50 ms, retried), and says so once.
        await until("a warning that the outcome waits") { records.all.contains { $0.message.contains("could not record") } }
        try lock.release()
        try await stopping.value
        _ = try await work.value
        let types = try f.types(job)
        if how == "cancel" {
            #expect(types == [.queued, .started, .canceled])
        } else {
            #expect(types == [.queued, .started, .failed])
            #expect(try await f.ledger.state(of: job)?.lastError?.code == "worker_shutdown")
        }
        #expect(records.all.filter { $0.message.contains("could not record") }.count == 1)
    }

    /// A progress report written while its attempt is being cancelled and the log's write lock
    /// is held elsewhere (a shutdown during a storage fault): the write gives up with the
    /// attempt's cancellation. It was logged as "progress not recorded (storage):
    /// CancellationError(); the next report tries again": no storage error, and no next report.
    @Test func aProgressReportCutShortByCancellationIsNotCalledAStorageError() async throws {
        let (f, ledger) = try lockedFixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = engine(ledger, f, records: records)
        let proceed = Gate(), reported = Gate()
        engine.register(kind: "k") { ctx in
            while !proceed.isOpen { await Task.yield() }
            withUnsafeCurrentTask { $0?.cancel() }
            try? await ctx.progress(0.5, message: "half")
            reported.release()
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        let work = Task { try await engine.tick() }
        await until("the claim") { (try? f.ledger.state(of: job))??.status == .running }
        let lock = try WriteLock(f.dir.path("jobs.sqlite"))
        proceed.release()
        await until("the report") { reported.isOpen }
        try lock.release()
        _ = try await work.value
        let progress = records.all.filter { $0.message.contains("progress") }
        #expect(!progress.contains { $0.message.contains("(storage)") || $0.message.contains("CancellationError") || $0.message.contains("tries again") },
                "\(progress.map(\.message))")
        #expect(progress.contains { $0.message.contains("progress not recorded: the attempt was cancelled") }, "\(progress.map(\.message))")
    }

    @Test func aResultThatMeetsALockLongerThanTheBusyTimeoutIsStillRecorded() async throws {
        let (f, ledger) = try lockedFixture()
        let records = Recorder<CapturingLogHandler.Record>()
        let engine = engine(ledger, f, records: records)
        let proceed = Gate()
        engine.register(kind: "k") { _ in
            while !proceed.isOpen { await Task.yield() }
            return JobCompletion(bytes: Data("final".utf8), contentType: "image/png", output: ["ok": true])
        }
        let job = try await engine.submit(kind: "k", maxAttempts: 1)
        let work = Task { try await engine.tick() }
        await until("the claim") { (try? f.ledger.state(of: job))??.status == .running }
        let lock = try WriteLock(f.dir.path("jobs.sqlite"))
        proceed.release()
        await until("a warning that the result waits") { records.all.contains { $0.message.contains("could not record completed") } }
        try lock.release()
        _ = try await work.value
        let s = try #require(try await f.ledger.state(of: job))
        #expect(s.status == .completed, "\(s.status) \(String(describing: s.lastError))")
        #expect(s.result?.size == 5)
        #expect(records.all.contains { $0.message.contains("completed of attempt 1 recorded after retrying") })
    }

    @Test func anOutputTooLargeToRecordFailsTheJobSayingWhy() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion(output: .string(String(repeating: "x", count: 70_000))) }
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        let s = try #require(try await f.ledger.state(of: job))
        #expect(s.status == .failed)
        #expect(s.lastError?.code == "invalid_result")
        #expect(s.lastError?.message.contains("over the limit") == true)
    }

    @Test func assetsStagedByAnAttemptThatNeverRecordedThemArePruned() async throws {
        let f = try Fixture()
        let kept = try await f.ledger.stageAsset(Data("kept".utf8), contentType: "image/png")
        let orphan = try await f.ledger.stageAsset(Data("orphan".utf8), contentType: "image/png")
        let job = JobID.generate(at: f.clock.now())
        _ = try await f.ledger.append([NewEvent(job: job, payload: .queued(.init(kind: "k"))),
                                       NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: f.clock.now().adding(milliseconds: 1000)))),
                                       NewEvent(job: job, payload: .completed(.init(asset: kept, attempt: 1)))])
        // Within the grace period nothing goes (a worker may be about to reference it).
        #expect(try await f.ledger.pruneOrphanAssets(stagedBefore: f.clock.now()).count == 0)
        f.clock.advance(milliseconds: 10)
        let removed = try await f.ledger.pruneOrphanAssets(stagedBefore: f.clock.now())
        #expect(removed.count == 1 && removed.bytes == 6)
        #expect(try f.ledger.assetBytes(kept.sha256) == Data("kept".utf8))
        #expect(throws: LedgerError.self) { try f.ledger.assetBytes(orphan.sha256) }
        // Staging the same bytes again renews them.
        let again = try await f.ledger.stageAsset(Data("kept".utf8), contentType: "image/png")
        #expect(again == kept)
    }
}
