import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import MetricsTestKit
import Synchronization
import Testing

/// A log that runs out of room mid-run (SQLite's `max_page_count`, raised again to free space):
/// the engine pauses with backoff and says so once, keeps its running attempts' outcomes, and
/// once there is room the same engine finishes every job, none twice. On the wall clock with a
/// backoff scaled down (10 ms doubling to 100 ms instead of 250 ms to 30 s), and a poll
/// interval of 1 ms, so that a busy loop would show as hundreds of tries.
@Suite struct StorageFaultEngineTests {
    struct Run {
        let dir = TempDir()
        let ledger: Ledger
        let engine: JobEngine
        let metrics = TestMetrics()
        let records = Recorder<CapturingLogHandler.Record>()
        let runs = Recorder<JobID>()

        init(giveUpAfter: Duration? = nil) throws {
            ledger = try Ledger.open(path: dir.path("jobs.sqlite"))
            var o = JobEngine.Options(workerID: "w")
            o.concurrency = 4
            o.randomSeed = 3
            o.metrics = metrics
            let records = self.records
            o.logger = Logger(label: "test") { _ in CapturingLogHandler(records: records) }
            // Fast retries, but the default 2 s for an episode to settle: a log with a few free
            // bytes lets a small write through now and then, and on a loaded machine the next
            // failure came more than the derived 80 ms later, so one fault was logged as two.
            o.storageFaults = StorageFaultPolicy(firstRetry: .milliseconds(10), maxRetry: .milliseconds(100), giveUpAfter: giveUpAfter,
                                                 settle: .seconds(2))
            engine = JobEngine(ledger: ledger, options: o)
            let runs = self.runs
            // Each attempt stages a preview and a result of 4 KB: a page or more each.
            engine.register(kind: "render") { ctx in
                runs.add(ctx.job)
                try await ctx.progress(0.5, message: "half")
                try await ctx.lowres(Data(repeating: 1, count: 4096), contentType: "image/png")
                return JobCompletion(bytes: Data(repeating: 2, count: 4096), contentType: "image/png")
            }
        }

        /// Lines of warning level and above.
        var loud: [CapturingLogHandler.Record] { records.all.filter { $0.level >= .warning } }
        var failedTries: Int64 {
            (try? metrics.expectCounter("jobledger_storage_faults_total", [("component", "engine"), ("kind", "full")]).totalValue) ?? 0
        }
        var paused: Int64? { try? metrics.expectGauge("jobledger_storage_paused", [("component", "engine")]).lastValue.map { Int64($0) } }

        func completedEvents() throws -> [JobID: Int] {
            var n: [JobID: Int] = [:]
            try ledger.forEachEvent { e in if e.type == .completed { n[e.job, default: 0] += 1 } }
            return n
        }
    }

    @Test func aFullLogPausesTheEngineWithBackoffAndFreedSpaceLetsTheSameEngineFinishEveryJobOnce() async throws {
        let r = try Run()
        var jobs: [JobID] = []
        for i in 0..<24 { jobs.append(try await r.engine.submit(kind: "render", input: ["n": .int(Int64(i))])) }
        // Room for a few jobs' images, not for 24: the log fills up mid-run.
        try await r.ledger.setMaxPageCount(try await r.ledger.pageCount() + 12)
        let worker = Task { try await r.engine.workUntilIdle(pollInterval: .milliseconds(1)) }

        await until("the engine to pause on the full log") { r.engine.storageFault != nil }
        let (fault, since) = try #require(r.engine.storageFault)
        #expect(fault.kind == .full && fault.path == r.ledger.path)
        // Let it wait through several backoff steps (a count of tries, not a sleep).
        await until("a few tries while paused") { r.failedTries >= 12 }
        let tries = r.failedTries
        let elapsed = Double(Timestamp.now.milliseconds - since.milliseconds) / 1000  // since the fault began
        // At most one try per writer (4 attempts' outcomes and one claim) per backoff step:
        // 10, 20, 40, 80 ms, then one every 100 ms. A loop on the 1 ms poll would be hundreds.
        let steps = 5 + elapsed / 0.1
        #expect(Double(tries) <= 5 * (steps + 1), "\(tries) failed tries in \(elapsed) s")
        #expect(r.paused == 1)
        let duringFault = r.loud
        #expect(duringFault.count == 1, "\(duringFault.map(\.message))")
        #expect(duringFault.first?.level == .error)
        #expect(duringFault.first?.message.contains("storage fault while") == true)
        #expect(duringFault.first?.message.contains(r.ledger.path) == true)
        #expect(duringFault.first?.message.contains("free on its file system") == true)

        // Space freed: the same engine, no restart.
        try await r.ledger.setMaxPageCount(nil)
        try await within(.seconds(300), "workUntilIdle to finish after space was freed") {
            try await withTaskCancellationHandler { try await worker.value } onCancel: { worker.cancel() }
        }
        let done = try r.completedEvents()
        #expect(Set(done.keys) == Set(jobs), "\(jobs.count - done.count) jobs never completed")
        #expect(done.values.allSatisfy { $0 == 1 }, "a job completed twice: \(done.filter { $0.value > 1 })")
        #expect(Dictionary(grouping: r.runs.all, by: { $0 }).values.allSatisfy { $0.count == 1 }, "a handler ran twice")
        #expect(try r.ledger.verify().isValid)
        // Settled: one line says it cleared; the gauge is back to 0.
        await until("the episode to settle") { r.engine.storageFault == nil && r.loud.count >= 2 }
        let lines = r.loud
        #expect(lines.count == 2, "\(lines.map(\.message))")
        #expect(lines.last?.message.contains("storage fault cleared after") == true)
        #expect(r.paused == 0)
        for l in lines { print("episode: [\(l.level)] \(l.message)") }
    }

    @Test func aFaultThatOutlastsGiveUpAfterEndsWorkUntilIdleWithTheFault() async throws {
        let r = try Run(giveUpAfter: .milliseconds(300))
        for _ in 0..<8 { try await r.engine.submit(kind: "render") }
        try await r.ledger.setMaxPageCount(1)  // full from the start: it stays full
        let started = ContinuousClock.now
        let engine = r.engine
        let error = try await within(.seconds(300), "workUntilIdle to give up") { () async -> LedgerError? in
            do { try await engine.workUntilIdle(pollInterval: .milliseconds(1)); return nil } catch let e as LedgerError { return e } catch {
                return .storage("\(error)")
            }
        } ?? nil
        #expect(error?.storageFault?.kind == .full, "\(String(describing: error))")
        // Not before the bound (that it ends at all is what `within` guards; how soon after
        // the bound depends on the machine's load, so it is not asserted here).
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(r.loud.filter { $0.level == .error }.count <= 3, "\(r.loud.map(\.message))")  // the start, the give-up
        #expect(r.loud.contains { $0.message.hasPrefix("giving up: the storage fault lasted longer than 300 ms") })
        #expect(try r.ledger.verify().isValid)
    }
}

/// Runs `body`, failing the test with `what` when it has not returned within `deadline` (the
/// body is left running; the failure names what never came).
@discardableResult
func within<T: Sendable>(_ deadline: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: deadline)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        if first == nil { Issue.record("waited \(deadline) for \(what); it never came", sourceLocation: sourceLocation) }
        return first
    }
}
