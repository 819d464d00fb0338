import Foundation
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

final class TempFolder: Sendable {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-anycable-\(UUID().uuidString)")
    init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A log on an injected clock, a projection runner whose broadcast sink is the AnyCable
/// broadcaster pointed at the stand-in.
struct Rig {
    let folder = TempFolder()
    let clock = ManualClock()
    let ledger: Ledger
    let logs = LogCapture()
    let runner: ProjectionRunner

    init(standIn: StandIn, key: String, retry: RetryPolicy, maxAttempts: Int = 100, batchSize: Int = 50, blobs: Bool = false) throws {
        var c = LedgerConfiguration()
        c.clock = clock.function
        ledger = try Ledger.open(path: folder.path("log.sqlite"), configuration: c)
        let sink = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(key), batchSize: batchSize, logger: logs.logger)
        var o = ProjectionRunner.Options(owner: "test:1")
        o.randomSeed = 5
        o.retry = retry
        o.maxAttempts = maxAttempts
        o.logger = logs.logger
        runner = ProjectionRunner(ledger: ledger, clock: clock, blobs: blobs ? LocalFolderBlobStore(path: folder.path("blobs")) : nil,
                                  broadcasts: sink, options: o)
    }

    func broadcastStatus() throws -> ProjectionStatus { try ledger.projectionStatus().first { $0.name == .broadcast }! }

    func queueOne() async throws {
        _ = try await ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
    }
}

/// The messages the stand-in accepted, decoded, in arrival order.
func decoded(_ received: [AnyCablePublication]) throws -> [(stream: String, message: BroadcastMessage)] {
    try received.map { ($0.stream, try BroadcastMessage(text: $0.data)) }
}

@Suite(.serialized) struct ProjectionEndToEndTests {
    /// 200 jobs run by the engine; the broadcast projection publishes to the stand-in, which
    /// fails for part of the run (503s, a 429, dropped connections). Every job's terminal
    /// message arrives; each job's messages arrive in version order; no progress after a
    /// terminal message; the key is in no log line.
    @Test func twoHundredJobsReachTheStandInInOrderAcrossAnOutage() async throws {
        let key = "e2e-secret-key-7d1f"
        let standIn = try await StandIn.start(key: key)
        defer { standIn.stop() }
        let rig = try Rig(standIn: standIn, key: key, retry: RetryPolicy(baseMilliseconds: 200, capMilliseconds: 2000), blobs: true)
        var eo = JobEngine.Options(workerID: "e2e")
        eo.concurrency = 8
        eo.logger = rig.logs.logger
        let engine = JobEngine(ledger: rig.ledger, clock: rig.clock, options: eo)
        engine.register(kind: "design") { ctx in
            try await ctx.progress(0.25, message: "pass 1")
            try await ctx.progress(0.5, message: "pass 2")
            try await ctx.lowres(Data("preview \(ctx.job)".utf8), contentType: "image/png")
            try await ctx.progress(0.75, message: "pass 3")
            return JobCompletion(bytes: Data("final \(ctx.job)".utf8), contentType: "image/png", output: ["ok": true])
        }
        // The stand-in's faults apply in turn: 15 × 503, then 2 × 429, then 2 dropped connections.
        try await standIn.fault(["mode": "status", "status": 503, "count": 15])
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "1", "count": 2])
        try await standIn.fault(["mode": "drop", "count": 2])
        var jobs: [JobID] = []
        for i in 0..<200 { jobs.append(try await engine.submit(kind: "design", input: ["n": .int(Int64(i))])) }

        let work = Task { try await engine.workUntilIdle() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while true {
            try #require(ContinuousClock.now < deadline, "the engine did not finish its 200 jobs")
            try await rig.runner.catchUp()
            if try rig.ledger.projectionStatus().first(where: { $0.name == .jobs })!.checkpoint > 0,
               (await engine.activeJobs()).isEmpty, engine.runningCount == 0 { break }
            await Task.yield()
        }
        try await work.value
        // The engine is done; the projection catches up, time moving on the injected clock.
        for _ in 0..<300 {
            try await rig.runner.catchUp()
            let s = try rig.broadcastStatus()
            if s.pending == 0 && s.lag == 0 { break }
            rig.clock.advance(milliseconds: 1000)
        }
        let s = try rig.broadcastStatus()
        #expect(s.pending == 0 && s.dead == 0 && s.lag == 0, "\(s)")

        let stats = try await standIn.stats()
        #expect((stats.byStatus["503"] ?? 0) == 15 && (stats.byStatus["429"] ?? 0) == 2 && stats.dropped == 2, "\(stats)")
        #expect(stats.malformed == 0)
        let got = try decoded(try await standIn.received())
        var perJob: [JobID: [BroadcastMessage]] = [:]
        for (stream, m) in got {
            #expect(stream == "job:\(m.job)")
            perJob[m.job, default: []].append(m)
        }
        #expect(perJob.count == 200)
        var missingTerminal = 0, disorder = 0, progressAfterEnd = 0
        for job in jobs {
            let ms = perJob[job] ?? []
            if ms.last?.type != .completed || ms.last?.resultURL == nil { missingTerminal += 1 }
            if zip(ms, ms.dropFirst()).contains(where: { $0.version >= $1.version }) { disorder += 1 }
            if let end = ms.firstIndex(where: \.isTerminal), ms[(end + 1)...].contains(where: { $0.type == .progress }) { progressAfterEnd += 1 }
        }
        #expect(missingTerminal == 0 && disorder == 0 && progressAfterEnd == 0)
        // Lowres messages carry the published preview URL.
        #expect(got.filter { $0.message.type == .lowres }.allSatisfy { $0.message.previewURL?.hasPrefix("file://") == true })
        let lines = rig.logs.lines
        #expect(lines.contains { $0.contains("503") })  // the outage was logged …
        #expect(!lines.contains { $0.contains(key) })   // … and the key never was
        #expect(try rig.ledger.projectionStatus().allSatisfy { !($0.lastError ?? "").contains(key) })
    }

    @Test func a429IsRetriedNoSoonerThanItsRetryAfter() async throws {
        let standIn = try await StandIn.start(key: "k")
        defer { standIn.stop() }
        let rig = try Rig(standIn: standIn, key: "k", retry: RetryPolicy(baseMilliseconds: 10, capMilliseconds: 10))
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "2", "count": 1])
        try await rig.queueOne()
        try await rig.runner.catchUp()
        let item = try #require(try rig.ledger.outboxItems(.broadcast).first)
        #expect(item.status == .pending && item.attempts == 1)
        #expect(item.nextAttemptAt == rig.clock.now().adding(milliseconds: 2000))
        rig.clock.advance(milliseconds: 1999)
        #expect(try await rig.runner.catchUp().delivered == 0)
        rig.clock.advance(milliseconds: 1)
        #expect(try await rig.runner.catchUp().delivered == 1)
        #expect(try await standIn.received().count == 1)
        #expect(try await standIn.stats().requests == 2)
    }

    @Test func a503IsRetriedAfterAJitteredBackoffThatGrows() async throws {
        let standIn = try await StandIn.start(key: "k")
        defer { standIn.stop() }
        let rig = try Rig(standIn: standIn, key: "k", retry: RetryPolicy(baseMilliseconds: 1000, capMilliseconds: 60_000))
        try await standIn.fault(["mode": "status", "status": 503, "count": 2])
        try await rig.queueOne()
        var waits: [Int64] = []
        for _ in 0..<2 {
            try await rig.runner.catchUp()
            let item = try #require(try rig.ledger.outboxItems(.broadcast).first)
            #expect(item.status == .pending)
            let wait = item.nextAttemptAt.milliseconds - rig.clock.now().milliseconds
            waits.append(wait)
            rig.clock.advance(milliseconds: wait)
        }
        #expect((0...1000).contains(waits[0]) && (0...2000).contains(waits[1]))  // full jitter under 1 s, then 2 s
        #expect(try await rig.runner.catchUp().delivered == 1)
        let stats = try await standIn.stats()
        #expect(stats.byStatus["503"] == 2 && stats.byStatus["201"] == 1)
    }

    @Test(arguments: [401, 422])
    func aConfigurationErrorIsNotRetriedAndSaysWhatToFix(_ status: Int) async throws {
        let key = "the-real-key-31337"
        let standIn = try await StandIn.start(key: status == 401 ? "another-key" : key)
        defer { standIn.stop() }
        let rig = try Rig(standIn: standIn, key: key, retry: RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0))
        if status == 422 { try await standIn.fault(["mode": "status", "status": 422, "count": 1]) }
        try await rig.queueOne()
        try await rig.runner.catchUp()
        rig.clock.advance(milliseconds: 60_000)
        try await rig.runner.catchUp()
        let s = try rig.broadcastStatus()
        #expect(s.dead == 1 && s.pending == 0)
        #expect(try await standIn.stats().requests == 1)  // not retried
        let error = try #require(s.lastError)
        #expect(error.contains(status == 401 ? "ANYCABLE_BROADCAST_KEY" : "ANYCABLE_BROADCAST_URL"), "\(error)")
        #expect(!error.contains(key))
        #expect(!rig.logs.lines.contains { $0.contains(key) })
    }
}
