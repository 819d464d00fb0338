import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import MetricsTestKit
import Synchronization
import Testing

/// Captures log records in memory.
struct CapturingLogHandler: LogHandler {
    struct Record: Sendable { let level: Logger.Level; let message: String; let metadata: [String: String] }
    let records: Recorder<Record>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        records.add(Record(level: event.level, message: event.message.description, metadata: all.mapValues { "\($0)" }))
    }
}

@Suite struct ObservabilityTests {
    @Test func countersTimersAndJobIdsInLogs() async throws {
        let f = try Fixture()
        let metrics = TestMetrics()
        let records = Recorder<CapturingLogHandler.Record>()
        var o = JobEngine.Options(workerID: "w")
        o.randomSeed = 1
        o.metrics = metrics
        o.logger = Logger(label: "test") { _ in CapturingLogHandler(records: records) }
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        engine.register(kind: "k", retry: RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0)) { ctx in
            if ctx.attempt == 1 && ctx.input["flaky"] == true { throw JobError(code: "x", message: "once", retryable: true) }
            return JobCompletion()
        }
        let flaky = try await engine.submit(kind: "k", input: ["flaky": true])
        let steady = try await engine.submit(kind: "k")
        try await engine.tick()
        try await engine.tick()
        #expect(try engine.result(of: flaky)?.status == .completed)
        #expect(try engine.result(of: steady)?.status == .completed)

        let kind = [("kind", "k")]
        #expect(try metrics.expectCounter("jobledger_jobs_submitted_total", kind).totalValue == 2)
        #expect(try metrics.expectCounter("jobledger_jobs_started_total", kind).totalValue == 3)
        #expect(try metrics.expectCounter("jobledger_jobs_retried_total", kind).totalValue == 1)
        #expect(try metrics.expectCounter("jobledger_jobs_completed_total", kind).totalValue == 2)
        #expect(try metrics.expectTimer("jobledger_job_run_time", kind).values.count == 3)
        #expect(try metrics.expectTimer("jobledger_job_queue_wait", kind).values.count == 3)

        let completedLines = records.all.filter { $0.message == "completed" }
        #expect(Set(completedLines.compactMap { $0.metadata["job"] }) == [flaky.rawValue, steady.rawValue])
        #expect(records.all.contains { $0.message.contains("will retry") && $0.metadata["job"] == flaky.rawValue && $0.metadata["code"] == "x" })
    }

    /// The wait runs from when the job became runnable: a `run_at` years in the past (any
    /// caller of `serve` may send one) is its queueing, not 1970; one in the future is its run-at.
    @Test func queueWaitStartsWhenTheJobBecameRunnable() async throws {
        let f = try Fixture()
        let metrics = TestMetrics()
        var o = JobEngine.Options(workerID: "w")
        o.metrics = metrics
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        engine.register(kind: "k") { _ in JobCompletion() }
        let queuedAt = f.clock.now()
        _ = try await engine.submit(kind: "k", runAt: Timestamp(milliseconds: 0))
        _ = try await engine.submit(kind: "k", runAt: Timestamp(milliseconds: queuedAt.milliseconds + 2_000))
        f.clock.advance(milliseconds: 5_000)
        try await engine.tick()
        let waits = try metrics.expectTimer("jobledger_job_queue_wait", [("kind", "k")]).values.sorted()
        #expect(waits == [3_000_000_000, 5_000_000_000])  // nanoseconds
    }

    @Test func waitReturnsTheFinalStateAndQueriesFilterByStateAndKind() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "a") { _ in JobCompletion() }
        let a = try await engine.submit(kind: "a")
        let b = try await engine.submit(kind: "b")  // no handler: stays queued
        try await engine.tick()
        #expect(try await engine.wait(for: a).status == .completed)
        #expect(try engine.jobs(status: .queued).map(\.id) == [b])
        #expect(try engine.jobs(kind: "a").map(\.id) == [a])
        #expect(try engine.jobs(status: .completed, kind: "b").isEmpty)
    }
}
