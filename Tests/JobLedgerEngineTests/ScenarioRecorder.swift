import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// Records the scenario logs under `Fixtures/logs/` by running the real engine and projection
/// runner on an injected clock. Runs only with `JOBLEDGER_RECORD_FIXTURES=1`; the committed
/// fixtures are what the golden tests read, so re-recording changes every golden output.
///
///     JOBLEDGER_RECORD_FIXTURES=1 swift test --filter ScenarioRecorder
///     JOBLEDGER_RECORD_GOLDENS=1 swift test --filter FixtureGoldenTests
@Suite(.enabled(if: ProcessInfo.processInfo.environment["JOBLEDGER_RECORD_FIXTURES"] == "1"), .serialized)
struct ScenarioRecorder {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let logs = root.appendingPathComponent("Fixtures/logs")

    /// A small PNG-like payload: the fixtures stay small.
    static func image(_ label: String) -> Data { Data("\u{89}PNG fixture image: \(label)".utf8) }

    /// Writes the log as NDJSON and a manifest naming the job and point the goldens look at.
    static func save(_ name: String, ledger: Ledger, job: JobID, asOf: Int64, story: String) throws {
        var text = ""
        try ledger.exportNDJSON { text += $0 + "\n" }
        try Data(text.utf8).write(to: logs.appendingPathComponent("\(name).ndjson"))
        let manifest: JSONValue = ["job": .string(job.rawValue), "as_of": .string(String(asOf)), "story": .string(story)]
        try Data((manifest.canonicalText + "\n").utf8).write(to: logs.appendingPathComponent("\(name).json"))
    }

    static func handler(steps: Int, clock: ManualClock, between: @escaping @Sendable () async throws -> Void = {}) -> JobHandler {
        { ctx in
            for i in 1...steps {
                clock.advance(milliseconds: 1_500)
                try await ctx.progress(Double(i) / Double(steps + 1), message: "rendering pass \(i) of \(steps)")
                try await between()
                if i == steps / 2 {
                    clock.advance(milliseconds: 400)
                    try await ctx.lowres(image("preview of \(ctx.job)"), contentType: "image/png")
                    try await between()
                }
            }
            clock.advance(milliseconds: 900)
            return JobCompletion(bytes: image("final of \(ctx.job)"), contentType: "image/png", output: ["width": 1024, "height": 1024])
        }
    }

    @Test func happyPath() async throws {
        let f = try Fixture()
        let engine = f.engine("worker-a")
        engine.register(kind: "design", Self.handler(steps: 4, clock: f.clock))
        let job = try await engine.submit(kind: "design", input: ["prompt": "a lighthouse at dusk", "size": 1024])
        f.clock.advance(milliseconds: 250)
        try await engine.tick()
        try Self.save("happy-path", ledger: f.ledger, job: job, asOf: 5, story: "One design job: queued, started, four progress reports with a preview halfway, completed with a final image.")
    }

    @Test func retryThenSuccess() async throws {
        let f = try Fixture()
        let engine = f.engine("worker-a")
        let inner = Self.handler(steps: 4, clock: f.clock)
        engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 2_000, capMilliseconds: 60_000)) { ctx in
            if ctx.attempt == 1 {
                f.clock.advance(milliseconds: 1_200)
                try await ctx.progress(0.2, message: "rendering pass 1 of 4")
                f.clock.advance(milliseconds: 800)
                throw JobError(code: "gpu_timeout", message: "the renderer did not answer within 30 s", retryable: true)
            }
            return try await inner(ctx)
        }
        let job = try await engine.submit(kind: "design", input: ["prompt": "a paper boat", "size": 1024])
        try await engine.tick()
        let wait = try #require(try engine.state(of: job)).runAt.milliseconds - f.clock.now().milliseconds
        f.clock.advance(milliseconds: max(0, wait) + 10)
        try await engine.tick()
        #expect(try engine.result(of: job)?.status == .completed)
        try Self.save("retry-then-success", ledger: f.ledger, job: job, asOf: 4, story: "Attempt 1 fails with a retryable gpu_timeout after 20 %; after the backoff attempt 2 runs to completion.")
    }

    @Test func workerCrashAndLeaseExpiry() async throws {
        let f = try Fixture()
        let job = try await f.engine("submitter").submit(kind: "design", input: ["prompt": "a red kite", "size": 1024])
        // Worker "worker-crashed" claims the job and reports progress, then its process dies:
        // it writes nothing more. (What a SIGKILL leaves in the log.)
        f.clock.advance(milliseconds: 300)
        _ = try await f.ledger.append(NewEvent(job: job, payload: .started(.init(worker: "worker-crashed", attempt: 1, leaseDeadline: f.clock.now().adding(milliseconds: 30_000))), expectedVersion: 1))
        f.clock.advance(milliseconds: 1_500)
        _ = try await f.ledger.append(NewEvent(job: job, payload: .progress(.init(fraction: 0.2, message: "rendering pass 1 of 4", leaseDeadline: f.clock.now().adding(milliseconds: 30_000), attempt: 1))))
        // The lease runs out; another worker's sweeper requeues the job and finishes it.
        f.clock.advance(milliseconds: 31_000)
        let survivor = f.engine("worker-b")
        survivor.register(kind: "design", Self.handler(steps: 4, clock: f.clock))
        for _ in 0..<3 { try await survivor.tick() }
        #expect(try survivor.result(of: job)?.status == .completed)
        try Self.save("worker-crash-lease-expiry", ledger: f.ledger, job: job, asOf: 3, story: "worker-crashed claims the job and dies after 20 %; its lease expires; worker-b records lease_expired, runs attempt 2 and completes it.")
    }

    @Test func cancelMidRun() async throws {
        let f = try Fixture()
        let engine = f.engine("worker-a")
        let reached = Mutex(false)
        engine.register(kind: "design") { ctx in
            f.clock.advance(milliseconds: 1_500)
            try await ctx.progress(0.2, message: "rendering pass 1 of 4")
            f.clock.advance(milliseconds: 1_500)
            try await ctx.progress(0.4, message: "rendering pass 2 of 4")
            reached.withLock { $0 = true }
            await until("the handler's cancellation") { ctx.isCancelled }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "design", input: ["prompt": "a city map", "size": 2048])
        let work = Task { try await engine.tick() }
        await until { reached.withLock { $0 } }
        f.clock.advance(milliseconds: 700)
        try await engine.cancel(job, reason: "the customer closed the editor")
        _ = try await work.value
        #expect(try engine.result(of: job)?.status == .canceled)
        try Self.save("cancel-mid-run", ledger: f.ledger, job: job, asOf: 4, story: "A job is canceled by its customer at 40 %, while a worker runs it; the handler stops and canceled is recorded.")
    }

    /// The sink that is down between two moments of the injected clock.
    final class OutageSink: BroadcastSink {
        let clock: ManualClock
        let down: ClosedRange<Int64>
        init(clock: ManualClock, down: ClosedRange<Int64>) { self.clock = clock; self.down = down }
        func deliver(_ publications: [Publication]) async throws(SinkError) {
            if down.contains(clock.now().milliseconds) { throw .unavailable("HTTP 503 from the broadcast endpoint") }
        }
    }

    /// A blob store standing in for Vercel Blob's public URLs.
    struct PublicURLBlobStore: BlobStore {
        func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
            BlobInfo(pathname: pathname, url: "https://example.public.blob.vercel-storage.com/\(pathname)", size: Int64(bytes.count), contentType: contentType)
        }
        func head(pathname: String) async throws(SinkError) -> BlobInfo? { nil }
        func list(prefix: String) async throws(SinkError) -> [BlobInfo] { [] }
        func delete(pathname: String) async throws(SinkError) {}
    }

    @Test func incidentBroadcastSinkDown() async throws {
        let f = try Fixture()
        let t0 = f.clock.now().milliseconds
        // The broadcast endpoint answers 503 from 10 s to 100 s after the first submit.
        let sink = OutageSink(clock: f.clock, down: (t0 + 10_000)...(t0 + 100_000))
        var o = ProjectionRunner.Options(owner: "recorder:1")
        o.randomSeed = 2026
        o.maxAttempts = 4
        o.retry = RetryPolicy(baseMilliseconds: 2_000, capMilliseconds: 20_000)
        o.logger = Logger(label: "recorder", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, blobs: PublicURLBlobStore(), broadcasts: sink, options: o)
        let engine = f.engine("worker-a", concurrency: 1)
        engine.register(kind: "design", Self.handler(steps: 6, clock: f.clock) { try await runner.catchUp() })
        var jobs: [JobID] = []
        for (i, prompt) in ["a harbour in fog", "a desert road", "a night market", "a glacier"].enumerated() {
            jobs.append(try await engine.submit(kind: "design", input: ["prompt": .string(prompt), "size": 1024]))
            f.clock.advance(milliseconds: Int64(200 + i * 50))
        }
        try await runner.catchUp()
        for _ in 0..<4 { try await engine.tick(); try await runner.catchUp() }
        // After the outage: the runner keeps trying; what is dead stays dead for an operator.
        for _ in 0..<30 { f.clock.advance(milliseconds: 5_000); try await runner.catchUp() }
        let status = try f.ledger.projectionStatus().first { $0.name == .broadcast }!
        #expect(status.dead > 0 && status.pending == 0)
        // The job whose browser saw the least: the one with the most dead messages.
        let dead = try f.ledger.outboxItems(.broadcast, status: .dead, limit: 10_000)
        let worst = Dictionary(grouping: dead, by: \.job).max { $0.value.count < $1.value.count }!.key
        let midOutage = try #require(try f.ledger.outboxItems(.broadcast, job: worst, limit: 1000).dropFirst(3).first?.seq)
        try Self.save("incident-broadcast-down", ledger: f.ledger, job: worst, asOf: midOutage,
                      story: "Four design jobs run while the broadcast endpoint answers 503 for 90 s; progress piles up, some messages are coalesced, some become dead letters after 4 tries.")
        // The database too, with its outbox: the incident playbook (Docs/Replay.md) reads it.
        let db = Self.logs.appendingPathComponent("incident-broadcast-down.sqlite").path
        try? FileManager.default.removeItem(atPath: db)
        try await f.ledger.vacuum(into: db)
    }
}
