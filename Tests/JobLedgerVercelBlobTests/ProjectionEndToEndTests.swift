import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerVercelBlob
import Testing

/// The engine runs image jobs; the blob projection publishes through `VercelBlobStore` to the
/// stand-in. Every artefact is uploaded once per content hash, and the URLs agree everywhere:
/// the stand-in's, the jobs table's, the broadcast messages', a replay's, and a replay of a log
/// that holds no URL at all (the URLs predicted from the store id, without the network).
@Suite(.serialized) struct ProjectionEndToEndTests {
    @Test func everyArtefactIsUploadedOnceAndEveryURLAgrees() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let folder = TempFolder()
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let logs = LogCapture()
        let store = try testStore(standIn, logger: logs.logger)
        var o = ProjectionRunner.Options(owner: "test:1")
        o.logger = logs.logger
        o.retry = RetryPolicy(baseMilliseconds: 10, capMilliseconds: 200)
        let runner = ProjectionRunner(ledger: ledger, blobs: store, broadcasts: BroadcastHub(), options: o)
        var eo = JobEngine.Options(workerID: "e2e")
        eo.logger = logs.logger
        let engine = JobEngine(ledger: ledger, options: eo)
        engine.register(kind: "design") { ctx in
            try await ctx.progress(0.5, message: "half")
            try await ctx.lowres(Data("preview of \(ctx.job)".utf8), contentType: "image/png")
            return JobCompletion(bytes: Data("final image of \(ctx.job)".utf8), contentType: "image/png")
        }
        var jobs: [JobID] = []
        for i in 0..<8 { jobs.append(try await engine.submit(kind: "design", input: ["n": .int(Int64(i))])) }
        try await engine.workUntilIdle()
        try await drain(runner, ledger)

        let held = try await standIn.blobs()
        #expect(held.count == 16)
        let stats = try await standIn.stats()
        #expect(stats.writes.count == 16 && stats.writes.values.allSatisfy { $0 == 1 }, "\(stats.writes)")
        let urlByPath = Dictionary(uniqueKeysWithValues: held.map { ($0.pathname, $0.url) })
        for b in held {
            // The pathname names the content: its hash prefix is the stored bytes' hash.
            let hashPart = b.pathname.split(separator: "-").last!.split(separator: ".").first!
            #expect(b.sha256.hasPrefix(String(hashPart)), "\(b.pathname)")
            #expect(b.url == store.publicURL(for: b.pathname))
        }
        // The log's record of each upload, and the jobs table.
        #expect(try ledger.blobURLs() == urlByPath)
        let rows = try ledger.currentJobRows()
        #expect(rows.count == 8)
        for row in rows {
            let s = try #require(try await ledger.state(of: row.id))
            let paths = s.artefactPathnames
            #expect(row.previewURL == urlByPath[try #require(paths.preview).description])
            #expect(row.resultURL == urlByPath[try #require(paths.result).description])
        }
        // The broadcast messages.
        let sent = try ledger.outboxItems(.broadcast, status: .sent).map { try BroadcastMessage(text: $0.body) }
        let lowres = sent.filter { $0.type == .lowres }, completed = sent.filter { $0.type == .completed }
        #expect(lowres.count == 8 && completed.count == 8)
        #expect(Set(lowres.compactMap(\.previewURL)).union(completed.compactMap(\.resultURL)) == Set(urlByPath.values))
        // A replay with the stored receipts, and one without any (a copy of the log with no
        // URLs): both show the stand-in's URLs.
        let planned: [any EffectProjection] = [BlobProjection(store: store, ledger: ledger), BroadcastProjection(sink: BroadcastHub())]
        for receipts in [try ledger.receipts(of: planned), [:]] {
            var fold = ReplayFold(effects: planned, receipts: receipts, showsTargets: true, receiptPlanners: planned)
            var replayed: Set<String> = []
            _ = try ledger.replay(into: &fold, effect: { e in
                guard let m = try? BroadcastMessage(text: e.draft.body) else { return }
                if m.type == .lowres, let u = m.previewURL { replayed.insert(u) }
                if m.type == .completed, let u = m.resultURL { replayed.insert(u) }
            })
            #expect(replayed == Set(urlByPath.values))
            #expect(Set(fold.rows.values.compactMap(\.resultURL)).isSubset(of: Set(urlByPath.values)))
        }
        #expect(!logs.lines.contains { $0.contains(testToken) })
    }

    /// The stand-in answers 503 to the first uploads, then recovers: the runner's retries get
    /// every artefact there, none dead.
    @Test func anOutageDelaysButLosesNothing() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 503, "count": 12])
        try await standIn.fault(["mode": "lose_response", "op": "put", "count": 1])
        let folder = TempFolder()
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let store = try testStore(standIn, retries: 1)
        var o = ProjectionRunner.Options(owner: "test:2")
        o.logger.logLevel = .error
        o.retry = RetryPolicy(baseMilliseconds: 10, capMilliseconds: 100)
        o.maxAttempts = 50
        let runner = ProjectionRunner(ledger: ledger, blobs: store, broadcasts: BroadcastHub(), options: o)
        var eo = JobEngine.Options(workerID: "e2e")
        eo.logger.logLevel = .error
        let engine = JobEngine(ledger: ledger, options: eo)
        engine.register(kind: "design") { ctx in
            try await ctx.lowres(Data("p \(ctx.job)".utf8), contentType: "image/png")
            return JobCompletion(bytes: Data("f \(ctx.job)".utf8), contentType: "image/png")
        }
        for _ in 0..<5 { _ = try await engine.submit(kind: "design") }
        try await engine.workUntilIdle()
        try await drain(runner, ledger)
        let blob = try #require(try ledger.projectionStatus().first { $0.name == .blob })
        #expect(blob.dead == 0 && blob.pending == 0)
        #expect(try await standIn.blobs().count == 10)
        let stats = try await standIn.stats()
        #expect(stats.byStatus(503) == 12 && stats.lostResponses == 1)
    }

    private func drain(_ runner: ProjectionRunner, _ ledger: Ledger) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while ContinuousClock.now < deadline {
            try await runner.catchUp()
            let s = try ledger.projectionStatus()
            if s.allSatisfy({ $0.lag == 0 && $0.pending == 0 }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the projections did not catch up: \(try ledger.projectionStatus())")
    }
}
