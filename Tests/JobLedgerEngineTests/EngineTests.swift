import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

final class TempDir: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-engine-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Waits (bounded, yielding, not sleeping) until `condition` holds. When the deadline passes
/// first, the test fails with `what` (a wait never hangs the run); the deadline is generous, for
/// loaded machines, and is a guard, not a timing assertion.
func until(_ what: @autoclosure () -> String = "the condition", within deadline: Duration = .seconds(300),
           sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async {
    let end = ContinuousClock.now.advanced(by: deadline)
    while !condition() {
        guard ContinuousClock.now < end else {
            Issue.record("waited \(deadline) for \(what()); it never came", sourceLocation: sourceLocation)
            return
        }
        // A short sleep, not a yield: a yield loop keeps one of the cooperative pool's few threads
        // busy, and under load the work being waited for starves behind it.
        try? await Task.sleep(for: .milliseconds(1))
    }
}

/// Collects what handlers saw, across tasks.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func add(_ x: T) { items.withLock { $0.append(x) } }
    var all: [T] { items.withLock { $0 } }
}

struct Fixture {
    let dir = TempDir()
    let clock = ManualClock()
    let ledger: Ledger
    init() throws {
        var c = LedgerConfiguration()
        c.clock = clock.function
        ledger = try Ledger.open(path: dir.path("jobs.sqlite"), configuration: c)
    }
    func engine(_ worker: String = "w1", concurrency: Int = 4, ledger: Ledger? = nil) -> JobEngine {
        var o = JobEngine.Options(workerID: worker)
        o.concurrency = concurrency
        o.randomSeed = 7
        o.leaseMilliseconds = 30_000
        // A line per completed job at info would bury a failing test's output under thousands of
        // them (the 10,000-job model test alone wrote 20,000); tests that check the log capture it.
        o.logger.logLevel = .warning
        return JobEngine(ledger: ledger ?? self.ledger, clock: clock, options: o)
    }
    /// An engine on this log (worker `worker`) whose log lines land in `records`; `configure`
    /// sets the rest of its options.
    func engine(_ worker: String, logInto records: Recorder<CapturingLogHandler.Record>,
                configure: (inout JobEngine.Options) -> Void = { _ in }) -> JobEngine {
        var o = JobEngine.Options(workerID: worker)
        o.logger = Logger(label: "test") { _ in CapturingLogHandler(records: records) }
        configure(&o)
        return JobEngine(ledger: ledger, clock: clock, options: o)
    }
    func types(_ job: JobID) throws -> [EventType] {
        var t: [EventType] = []
        try ledger.forEachEvent(of: job) { t.append($0.type) }
        return t
    }
}

@Suite struct EngineTests {
    @Test func happyPathRecordsTheWholeLife() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "design") { ctx in
            #expect(ctx.attempt == 1)
            #expect(ctx.input == ["prompt": "a cat"])
            try await ctx.progress(0.5, message: "halfway")
            try await ctx.lowres(Data("preview".utf8), contentType: "image/png")
            return JobCompletion(bytes: Data("final".utf8), contentType: "image/png", output: ["w": 64])
        }
        let job = try await engine.submit(kind: "design", input: ["prompt": "a cat"])
        #expect(try await engine.tick() == 1)
        let s = try #require(try engine.result(of: job))
        #expect(s.status == .completed)
        #expect(s.output == ["w": 64])
        #expect(s.result?.size == 5)
        #expect(try f.ledger.assetBytes(s.result!.sha256) == Data("final".utf8))
        #expect(try f.types(job) == [.queued, .started, .progress, .lowres, .completed])
        #expect(try f.ledger.verify().isValid)
    }

    @Test func progressExtendsTheLease() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let seen = Recorder<Timestamp?>()
        engine.register(kind: "k") { ctx in
            f.clock.advance(milliseconds: 20_000)
            try await ctx.progress(0.1)
            seen.add(try await f.ledger.state(of: ctx.job)?.leaseDeadline)
            return JobCompletion()
        }
        let start = f.clock.now()
        _ = try await engine.submit(kind: "k")
        try await engine.tick()
        #expect(seen.all == [start.adding(milliseconds: 20_000 + 30_000)])
    }

    @Test func retryThenSuccessWaitsForTheBackoff() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let attempts = Recorder<Int>()
        engine.register(kind: "flaky", retry: RetryPolicy(baseMilliseconds: 1000, capMilliseconds: 60_000)) { ctx in
            attempts.add(ctx.attempt)
            if ctx.attempt == 1 { throw JobError(code: "render_timeout", message: "slow", retryable: true) }
            return JobCompletion(output: ["ok": true])
        }
        let job = try await engine.submit(kind: "flaky")
        try await engine.tick()
        let queued = try #require(try engine.state(of: job))
        #expect(queued.status == .queued)
        #expect(queued.lastError?.code == "render_timeout")
        let wait = queued.runAt.milliseconds - f.clock.now().milliseconds
        #expect((0...1000).contains(wait))  // full jitter within the first ceiling
        if wait > 0 {
            #expect(try await engine.tick() == 0)  // not before the retry time
            f.clock.advance(milliseconds: wait)
        }
        #expect(try await engine.tick() == 1)
        #expect(try engine.result(of: job)?.status == .completed)
        #expect(attempts.all == [1, 2])
    }

    @Test func retriesExhaustedFailTheJob() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "broken", retry: RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0)) { _ in
            throw JobError(code: "gpu_oom", message: "out of memory", retryable: true)
        }
        let job = try await engine.submit(kind: "broken", maxAttempts: 3)
        for _ in 0..<5 { try await engine.tick() }
        let s = try #require(try engine.result(of: job))
        #expect(s.status == .failed)
        #expect(s.attempt == 3)
        #expect(s.lastError == JobFailure(code: "gpu_oom", message: "out of memory", retryable: true, attempt: 3))
    }

    @Test func aDeadLetterIsRetriedAsARecordedEvent() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let attempts = Recorder<Int>()
        engine.register(kind: "k") { ctx in
            attempts.add(ctx.attempt)
            if ctx.attempt == 1 { throw JobError(code: "bad_input", message: "no prompt", retryable: false) }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k", input: ["p": "x"])
        try await engine.tick()
        #expect(try engine.result(of: job)?.status == .failed)
        try await engine.retry(job)
        #expect(try engine.state(of: job)?.status == .queued)
        try await engine.tick()
        #expect(try engine.result(of: job)?.status == .completed)
        #expect(attempts.all == [1, 2])
        #expect(try f.types(job) == [.queued, .started, .failed, .queued, .started, .completed])
        #expect(try f.ledger.verify().isValid)
    }

    @Test func aNonRetryableErrorFailsAtOnce() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in throw JobError(code: "bad_input", message: "no prompt", retryable: false) }
        let job = try await engine.submit(kind: "k", maxAttempts: 5)
        try await engine.tick()
        #expect(try engine.result(of: job)?.status == .failed)
        #expect(try engine.result(of: job)?.attempt == 1)
        #expect(try await engine.tick() == 0)
    }

    @Test func anyOtherErrorIsARetryableHandlerError() async throws {
        struct Boom: Error {}
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in throw Boom() }
        let job = try await engine.submit(kind: "k", maxAttempts: 2)
        try await engine.tick()
        #expect(try engine.state(of: job)?.lastError?.code == "handler_error")
        #expect(try engine.state(of: job)?.status == .queued)
    }

    @Test func idempotentSubmitQueuesOnce() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let a = try await engine.submit(kind: "k", idempotencyKey: "order-17")
        let b = try await engine.submit(kind: "k", idempotencyKey: "order-17")
        #expect(a == b)
        #expect(try f.ledger.eventCount() == 1)
    }

    @Test func aDelayedJobIsNotClaimedEarly() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k", runAt: f.clock.now().adding(milliseconds: 10_000))
        #expect(try await engine.tick() == 0)
        f.clock.advance(milliseconds: 9_999)
        #expect(try await engine.tick() == 0)
        f.clock.advance(milliseconds: 1)
        #expect(try await engine.tick() == 1)
        #expect(try engine.result(of: job)?.status == .completed)
    }

    @Test func higherPriorityFirstThenOldest() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 1)
        let order = Recorder<String>()
        engine.register(kind: "k") { ctx in
            order.add(ctx.input["name"]?.stringValue ?? "?")
            return JobCompletion()
        }
        for (name, priority) in [("low", 0), ("high-1", 10), ("mid", 5), ("high-2", 10)] {
            try await engine.submit(kind: "k", input: ["name": .string(name)], priority: priority)
            f.clock.advance(milliseconds: 1)
        }
        for _ in 0..<4 { #expect(try await engine.tick() == 1) }
        #expect(order.all == ["high-1", "high-2", "mid", "low"])
    }

    @Test func runUntilIdleIgnoresKindsThisEngineCannotRun() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "mine") { _ in JobCompletion() }
        let other = try await engine.submit(kind: "someone-elses")
        let mine = try await engine.submit(kind: "mine")
        try await engine.workUntilIdle(pollInterval: .milliseconds(1))
        #expect(try engine.result(of: mine)?.status == .completed)
        #expect(try engine.state(of: other)?.status == .queued)
    }

    /// Before a claim round the engine lets attempts that are returning free their slots, but
    /// only for a few turns: with long jobs in every slot, the one slot that frees is filled at
    /// once, while the others still run (it does not wait for more slots to free).
    @Test func aSingleFreedSlotIsFilledWhileTheOtherJobsStillRun() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 16)
        let started = Recorder<JobID>()
        let done = Mutex<Set<JobID>>([])
        engine.register(kind: "long") { ctx in
            started.add(ctx.job)
            while !done.withLock({ $0.contains(ctx.job) }) {
                if ctx.isCancelled { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(1))
            }
            return JobCompletion()
        }
        for _ in 0..<17 { try await engine.submit(kind: "long") }
        let work = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("16 jobs to start") { started.all.count == 16 }
        done.withLock { _ = $0.insert(started.all[0]) }
        await until("the 17th job to start while 15 still run") { started.all.count == 17 }
        #expect(try engine.jobs(status: .running).count == 16)
        done.withLock { $0.formUnion(started.all) }
        await engine.shutdown(drain: .seconds(30))
        try await work.value
        #expect(try engine.jobs(status: .completed).count == 17)
    }

    /// A deep queue of a capped kind, all of higher priority, does not crowd out other kinds:
    /// the free slots go to them.
    @Test func aCappedKindDoesNotStarveTheOthers() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 4)
        engine.register(kind: "gpu", concurrency: 1) { _ in JobCompletion() }
        engine.register(kind: "cpu") { _ in JobCompletion() }
        for _ in 0..<200 { try await engine.submit(kind: "gpu", priority: 10) }
        for _ in 0..<3 { try await engine.submit(kind: "cpu") }
        #expect(try await engine.tick() == 4)  // 1 gpu (its limit) + 3 cpu
        #expect(try engine.jobs(status: .completed, kind: "cpu").count == 3)
        #expect(try engine.jobs(status: .completed, kind: "gpu").count == 1)
    }

    @Test func perKindConcurrencyLimit() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 8)
        engine.register(kind: "gpu", concurrency: 2) { _ in JobCompletion() }
        for _ in 0..<5 { try await engine.submit(kind: "gpu") }
        #expect(try await engine.tick() == 2)
        #expect(try await engine.tick() == 2)
        #expect(try await engine.tick() == 1)
    }

    @Test func cancelWhileQueued() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in Issue.record("must not run"); return JobCompletion() }
        let job = try await engine.submit(kind: "k")
        try await engine.cancel(job, reason: "user changed their mind")
        #expect(try await engine.tick() == 0)
        #expect(try engine.result(of: job)?.status == .canceled)
        #expect(try engine.result(of: job)?.cancelReason == "user changed their mind")
    }

    @Test func cancelWhileRunningCancelsTheHandlerAndRecordsIt() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Recorder<JobID>()
        engine.register(kind: "long") { ctx in
            started.add(ctx.job)
            await until("the handler's cancellation") { ctx.isCancelled }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "long")
        let work = Task { try await engine.tick() }
        await until { !started.all.isEmpty }
        try await engine.cancel(job, reason: "customer left")
        _ = try await work.value
        let s = try #require(try engine.result(of: job))
        #expect(s.status == .canceled)
        #expect(s.cancelReason == "customer left")
        #expect(try f.types(job) == [.queued, .started, .canceled])
    }

    @Test func anExpiredLeaseIsRequeuedAndFinishedByAnotherWorker() async throws {
        let f = try Fixture()
        let engine = f.engine("survivor")
        engine.register(kind: "k") { ctx in
            #expect(ctx.attempt == 2)
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        // A worker that claims the job and then dies: its lease is never renewed.
        _ = try await f.ledger.append(NewEvent(job: job, payload: .started(.init(
            worker: "dead", attempt: 1, leaseDeadline: f.clock.now().adding(milliseconds: 30_000)))))
        #expect(try await engine.tick() == 0)  // the lease still holds
        f.clock.advance(milliseconds: 30_001)
        #expect(try await engine.tick() == 1)
        #expect(try engine.result(of: job)?.status == .completed)
        #expect(try f.types(job) == [.queued, .started, .failed, .started, .completed])
        var failure: EventPayload?
        try f.ledger.forEachEvent(of: job) { if $0.type == .failed { failure = $0.payload } }
        guard case .failed(let fl) = failure else { Issue.record("no failure"); return }
        #expect(fl.code == "lease_expired" && fl.attempt == 1 && fl.retryable)
        #expect(try f.ledger.verify().isValid)
    }

    @Test func twoEnginesOnOneFileNeverRunTheSameAttemptTwice() async throws {
        let f = try Fixture()
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        let other = try Ledger.open(path: f.dir.path("jobs.sqlite"), configuration: c)
        let a = f.engine("a", concurrency: 3)
        let b = f.engine("b", concurrency: 3, ledger: other)
        let runs = Recorder<JobID>()
        for e in [a, b] { e.register(kind: "k") { ctx in runs.add(ctx.job); return JobCompletion() } }
        var jobs: [JobID] = []
        for _ in 0..<30 { jobs.append(try await a.submit(kind: "k")) }
        while Set(runs.all).count < jobs.count {
            async let x = a.tick()
            async let y = b.tick()
            let (nx, ny) = try await (x, y)
            if nx + ny == 0 { break }
        }
        #expect(runs.all.count == jobs.count)  // each job ran exactly once
        #expect(Set(runs.all) == Set(jobs))
        for j in jobs { #expect(try a.result(of: j)?.status == .completed) }
        #expect(try f.ledger.verify().isValid)
    }
}

extension Fixture {
    /// An engine of its own on a second `Ledger` of the same log: another worker process.
    func engineOnAnotherLedger(_ worker: String) throws -> JobEngine {
        var c = LedgerConfiguration()
        c.clock = clock.function
        let other = try Ledger.open(path: dir.path("jobs.sqlite"), configuration: c)
        return engine(worker, ledger: other)
    }
}
