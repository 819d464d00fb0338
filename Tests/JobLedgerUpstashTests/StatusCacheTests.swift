import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
@testable import JobLedgerUpstash
import Testing

@Suite(.serialized) struct StatusCacheTests {
    /// Deliveries that arrive out of order, again, or re-driven from the dead letters never
    /// move a job's hash backwards.
    @Test func statusNeverRegressesOutOfOrderRepeatedOrReDriven() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        let job = try await engine.submit(kind: "design", input: ["prompt": "x"])
        try await engine.workUntilIdle()
        let final = try #require(try engine.state(of: job))
        #expect(final.status == .completed)

        // One item per request; the first two requests fail and, with one try allowed, go dead.
        let cache = UpstashStatusCache(redis: s.client(retries: 0), batchSize: 1)
        try await s.fault(["mode": "status", "status": 500, "count": 2])
        let runner = quietRunner(ledger, blobs: folder.path("blobs"), extra: [cache], maxAttempts: 1, deliveryBatch: 1)
        try await runner.catchUp()
        let key = "design:jobs:\(job.rawValue)"
        let redis = s.client()
        func stored() async throws -> [String: String] { try await redis.send(["HGETALL", key]).fieldMap ?? [:] }
        #expect(try await stored()["version"] == String(final.version))
        #expect(try await stored()["state"] == "completed")
        let dead = try ledger.outboxItems(UpstashStatusCache.projectionName, status: .dead)
        #expect(dead.count == 2)

        // Re-driven: the two old versions are delivered now, after the final one.
        #expect(try await ledger.redrive(UpstashStatusCache.projectionName) == 2)
        try await runner.catchUp()
        #expect(try ledger.outboxItems(UpstashStatusCache.projectionName, status: .dead).isEmpty)
        #expect(try await stored()["version"] == String(final.version))
        #expect(try await stored()["state"] == "completed")

        // Every item again, newest first (out of order), twice.
        let sent = try ledger.outboxItems(UpstashStatusCache.projectionName, status: .sent)
        #expect(sent.count >= 3)
        for _ in 0..<2 {
            let d = await cache.deliver(Array(sent.reversed()))
            #expect(d.failure == nil)
        }
        let h = try await stored()
        #expect(h["version"] == String(final.version) && h["state"] == "completed" && h["result_url"] != nil)
        #expect(try await redis.send(["TTL", key]).int ?? -1 > 0)
        // An older version straight through the script: refused (0), nothing changes.
        let old = UpstashJobStatus(state: final, previewURL: nil, resultURL: nil)
        var older = old
        older.version = 1
        older.state = .running
        let r = try await redis.eval(UpstashStatusCache.script, keys: [key], args: older.scriptArguments(ttlSeconds: 0), idempotent: true)
        #expect(r == .integer(0))
        #expect(try await stored()["state"] == "completed")
    }

    @Test func aWrongTokenDeadLettersWithAMessageThatSaysWhatToFix() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        try await engine.submit(kind: "design")
        try await engine.workUntilIdle()
        let secret = "not-the-token-81b7"
        let runner = quietRunner(ledger, blobs: folder.path("blobs"), extra: [UpstashStatusCache(redis: s.client(token: secret))])
        try await runner.catchUp()
        let status = try #require(try ledger.projectionStatus([UpstashStatusCache.projectionName]).first { $0.name == UpstashStatusCache.projectionName })
        #expect(status.dead > 0 && status.pending == 0, "401 is not worth retrying")
        let e = status.lastError ?? ""
        #expect(e.contains("UPSTASH_REDIS_REST_TOKEN") && !e.contains(secret))
    }
}
