import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
@testable import JobLedgerUpstash
import Logging
import Testing

/// A worker on a fresh log: the demo-like `design` kind renders a tiny "image" and completes.
func makeEngine(_ ledger: Ledger) -> JobEngine {
    var o = JobEngine.Options(workerID: "test-worker")
    o.logger.logLevel = .error
    let engine = JobEngine(ledger: ledger, options: o)
    engine.register(kind: "design") { ctx in
        try await ctx.progress(0.5, message: "halfway")
        return JobCompletion(bytes: Data("png:\(ctx.input)".utf8), contentType: "image/png", output: ["ok": true])
    }
    return engine
}

func quietRunner(_ ledger: Ledger, blobs: String, extra: [any EffectProjection], maxAttempts: Int = 8, deliveryBatch: Int = 100) -> ProjectionRunner {
    var o = ProjectionRunner.Options(owner: "test:\(UUID().uuidString)")
    o.logger.logLevel = .critical
    o.maxAttempts = maxAttempts
    o.deliveryBatch = deliveryBatch
    o.retry = RetryPolicy(baseMilliseconds: 1, capMilliseconds: 5)
    return ProjectionRunner(ledger: ledger, blobs: LocalFolderBlobStore(path: blobs), extra: extra, options: o)
}

@Suite(.serialized) struct IntakeTests {
    /// What the web app writes with the official SDK (flat string fields) becomes jobs, which
    /// run and are visible in their status hash as completed, with the result URL.
    @Test func entriesWrittenByTheOfficialSDKAreProcessedAndVisibleAsCompleted() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        _ = try await runSDK("""
            from upstash_redis import Redis
            r = Redis.from_env()
            r.xadd("design:jobs", "*", {"input": '{"prompt": "a red bicycle"}', "owner": "user_1"})
            r.xadd("design:jobs", "*", {"input": '{"prompt": "a cat"}', "kind": "design", "priority": "5", "max_attempts": "2"})
            # a web app that retried its XADD: the same idempotency key twice
            r.xadd("design:jobs", "*", {"input": '{"prompt": "retried"}', "idempotency_key": "req-42"})
            r.xadd("design:jobs", "*", {"input": '{"prompt": "retried"}', "idempotency_key": "req-42"})
            """, standIn: s)
        let redis = s.client()
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        var options = UpstashStreamIntake.Options(kinds: engine.registeredKinds)
        options.ownerHashPrefix = "design:jobs:"
        let intake = UpstashStreamIntake(redis: redis, options: options)
        try await engine.workUntilIdle(feedingFrom: intake, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(50)))
        let runner = quietRunner(ledger, blobs: folder.path("blobs"), extra: [UpstashStatusCache(redis: redis)])
        let owed = try await runner.drain(for: .seconds(30))
        #expect(owed.isEmpty, "\(owed)")

        let jobs = try engine.jobs()
        #expect(jobs.count == 3, "the retried XADD made one job")
        #expect(jobs.allSatisfy { $0.status == .completed })
        #expect(jobs.contains { $0.priority == 5 && $0.maxAttempts == 2 })
        let out = try await runSDK("""
            import json
            from upstash_redis import Redis
            r = Redis.from_env()
            print(json.dumps({k: r.hgetall("design:jobs:" + k) for k in \(JSONValue.array(jobs.map { .string($0.id.rawValue) }).canonicalText)}))
            print(json.dumps({k: r.ttl("design:jobs:" + k) for k in \(JSONValue.array(jobs.map { .string($0.id.rawValue) }).canonicalText)}))
            """, standIn: s)
        let lines = out.split(separator: "\n").map(String.init)
        let hashes = try JSONValue(parsing: lines[0]), ttls = try JSONValue(parsing: lines[1])
        for job in jobs {
            let h = try #require(hashes[job.id.rawValue])
            #expect(h["state"]?.stringValue == "completed")
            #expect(h["progress"]?.stringValue == "1")
            #expect(h["version"]?.stringValue == String(job.version))
            #expect(h["result_url"]?.stringValue?.hasPrefix("file://") == true, "\(h)")
            #expect(h["updated_at"]?.stringValue?.hasSuffix("Z") == true)
            #expect((ttls[job.id.rawValue]?.intValue ?? -1) > 0, "a finished job's hash expires")
        }
        #expect(jobs.contains { hashes[$0.id.rawValue]?["owner"]?.stringValue == "user_1" })
        // The owner is the job's, in the log: its queued event records it, as serve's submit does.
        #expect(jobs.filter { $0.owner == "user_1" }.map(\.id) == jobs.filter { hashes[$0.id.rawValue]?["owner"]?.stringValue == "user_1" }.map(\.id))
        #expect(jobs.filter { $0.owner != nil }.count == 1)
        let status = try await intake.status()
        #expect(status.pending == 0 && status.length == 4 && status.deadLetters == 0 && status.groupExists)
    }

    /// Malformed entries are acknowledged, dead-lettered with the reason and logged; the ones
    /// after them go through.
    @Test func aPoisonEntryIsDeadLetteredWhileTheNextOnesGoThrough() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        _ = try await runSDK("""
            from upstash_redis import Redis
            r = Redis.from_env()
            r.xadd("design:jobs", "*", {"input": '{"prompt": "first"}'})
            r.xadd("design:jobs", "*", {"input": '{not json'})
            r.xadd("design:jobs", "*", {"prompt": "no input field"})
            r.xadd("design:jobs", "*", {"input": '{}', "kind": "video"})
            r.xadd("design:jobs", "*", {"input": '{}', "priority": "high"})
            r.xadd("design:jobs", "*", {"input": '{}', "run_at": "yesterday"})
            r.xadd("design:jobs", "*", {"input": '{"prompt": "last"}'})
            """, standIn: s)
        let redis = s.client()
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        let intake = UpstashStreamIntake(redis: redis, options: .init(kinds: engine.registeredKinds))
        try await engine.workUntilIdle(feedingFrom: intake, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(50)))
        #expect(try engine.jobs(status: .completed).count == 2)
        let reasons = intake.refusals.map(\.reason)
        #expect(reasons.count == 5)
        #expect(reasons.contains { $0.contains("not JSON") })
        #expect(reasons.contains { $0.contains("missing field 'input'") })
        #expect(reasons.contains { $0.contains("unknown kind 'video'") })
        #expect(reasons.contains { $0.contains("'priority'") })
        #expect(reasons.contains { $0.contains("'run_at'") })
        let dead = try await redis.send(["XRANGE", "design:jobs:dead", "-", "+"])
        let entries = (dead.array ?? []).compactMap { $0.array?[1].fieldMap }
        #expect(entries.count == 5)
        #expect(entries.allSatisfy { $0["dead_reason"] != nil && $0["dead_entry_id"] != nil })
        #expect(entries.contains { $0["prompt"] == "no input field" }, "the entry's own fields are kept")
        let status = try await intake.status()
        #expect(status.pending == 0 && status.deadLetters == 5)
    }

    /// Entries left pending by a consumer that died are taken over; an entry delivered twice
    /// (committed, not acknowledged) is one job.
    @Test func pendingEntriesOfADeadConsumerAreClaimedAndNeverMakeTwoJobs() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let redis = s.client()
        for i in 0..<5 { try await redis.send(["XADD", "design:jobs", "*", "input", "{\"n\":\(i)}"]) }
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        // The first consumer reads and commits, then "dies" before acknowledging.
        var first = UpstashStreamIntake.Options(consumer: "dead-worker", kinds: ["design"])
        first.batchSize = 3
        let dying = UpstashStreamIntake(redis: redis, options: first)
        #expect(try await dying.pull { try await engine.submit($0) } == 3)
        #expect(try engine.jobs().count == 3)
        // A new consumer takes over what it left pending (idle ≥ 0 ms here) and reads the rest.
        var second = UpstashStreamIntake.Options(consumer: "new-worker", kinds: ["design"])
        second.claimIdle = .zero
        let taker = UpstashStreamIntake(redis: redis, options: second)
        try await engine.workUntilIdle(feedingFrom: taker, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(20)))
        #expect(try engine.jobs().count == 5, "the three delivered twice are still three jobs")
        #expect(try engine.jobs(status: .completed).count == 5)
        let status = try await taker.status()
        #expect(status.pending == 0)
    }

    /// A failed read (5xx, timeout) is retried by polling; nothing is lost or doubled.
    @Test func theIntakeRidesOutFiveHundredsAndTimeouts() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        for i in 0..<20 { try await s.client().send(["XADD", "design:jobs", "*", "input", "{\"n\":\(i)}"]) }
        let redis = s.client(timeout: .seconds(5), retries: 0)  // long enough that only the delayed read times out on a loaded machine
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        var o = UpstashStreamIntake.Options(kinds: ["design"])
        o.batchSize = 4
        let intake = UpstashStreamIntake(redis: redis, options: o)
        try await s.fault(["mode": "status", "status": 503, "count": 2, "path": "/pipeline"])
        try await s.fault(["mode": "delay", "ms": 6000, "count": 1, "path": "/pipeline"])  // applied, answer lost
        try await s.fault(["mode": "drop", "count": 1, "path": "/pipeline"])
        try await engine.workUntilIdle(feedingFrom: intake, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(50)))
        try await s.settled()  // the delayed command has run
        try await engine.workUntilIdle(feedingFrom: intake, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(50)))
        #expect(try engine.jobs().count == 20)
        #expect(try engine.jobs(status: .completed).count == 20)
        #expect(try await intake.status().pending == 0)
    }
}
