import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
@testable import JobLedgerUpstash
import Testing

/// Entries the log itself refuses, and entries with a field that is not text: dead-lettered
/// with their reason while the others go through. An oversized entry held every entry behind
/// it for good (each pull failed the whole batch); a key reused with another owner took over
/// the first job's status hash; a binary side field made the entry be acknowledged and lost.
@Suite(.serialized) struct IntakeRefusalTests {
    func run(_ s: UpstashStandIn, _ folder: TempFolder) async throws -> (JobEngine, UpstashStreamIntake) {
        let ledger = try Ledger.open(path: folder.path("log.sqlite"))
        let engine = makeEngine(ledger)
        var options = UpstashStreamIntake.Options(kinds: engine.registeredKinds)
        options.ownerHashPrefix = "design:jobs:"
        let intake = UpstashStreamIntake(redis: s.client(), options: options)
        try await engine.workUntilIdle(feedingFrom: intake, idle: IdleBackoff(minimum: .milliseconds(10), maximum: .milliseconds(50)),
                                       giveUpAfter: .seconds(20))
        return (engine, intake)
    }

    func deadLetters(_ s: UpstashStandIn) async throws -> [[String: String]] {
        let dead = try await s.client().send(["XRANGE", "design:jobs:dead", "-", "+"])
        return (dead.array ?? []).compactMap { $0.array?[1].fieldMap }
    }

    /// Runs `calls` (Python, calling `xadd(*args)`) against the stand-in's redis-server with its
    /// own protocol: values that are not text, which the REST API cannot carry.
    func xaddRaw(_ s: UpstashStandIn, _ calls: String) async throws {
        _ = try await runSDK("""
            import socket
            def xadd(*args):
                out = b"*%d\\r\\n" % len(args)
                for a in args:
                    a = a if isinstance(a, bytes) else a.encode()
                    out += b"$%d\\r\\n%s\\r\\n" % (len(a), a)
                c = socket.create_connection(("127.0.0.1", \(s.redisPort)))
                c.sendall(out)
                assert c.recv(100).startswith(b"$")
                c.close()
            """ + "\n" + calls, standIn: s)
    }

    @Test func anEntryOverThePayloadLimitIsDeadLetteredAndTheOthersRun() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let redis = s.client()
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"prompt\":\"first\"}"])
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"prompt\":\"\(String(repeating: "x", count: 100_000))\"}"])
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"prompt\":\"last\"}"])
        let (engine, intake) = try await run(s, folder)
        #expect(try engine.jobs(status: .completed).count == 2)
        let dead = try await deadLetters(s)
        #expect(dead.count == 1)
        #expect(dead.first?["dead_reason"]?.contains("bytes") == true, "\(dead.first?["dead_reason"] ?? "")")
        #expect(dead.first?["input"]?.count ?? 0 > 100_000, "the entry's own fields are kept")
        #expect(try await intake.status().pending == 0)
    }

    @Test func aKeyReusedWithAnotherOwnerIsDeadLetteredAndTheHashKeepsItsOwner() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let redis = s.client()
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"p\":1}", "idempotency_key", "design:req-1", "owner", "alice"])
        _ = try await run(s, folder)
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"p\":2}", "idempotency_key", "design:req-1", "owner", "mallory"])
        try await redis.send(["XADD", "design:jobs", "*", "input", "{\"p\":1}", "idempotency_key", "design:req-1", "owner", "alice"])
        let (engine, intake) = try await run(s, folder)
        let jobs = try engine.jobs()
        #expect(jobs.count == 1 && jobs[0].owner == "alice")
        let owner = try await redis.send(["HGET", "design:jobs:\(jobs[0].id)", "owner"])
        #expect(owner.string == "alice")
        let dead = try await deadLetters(s)
        #expect(dead.count == 1 && dead[0]["owner"] == "mallory")
        #expect(dead.first?["dead_reason"]?.contains("belongs to job \(jobs[0].id)") == true, "\(dead)")
        #expect(try await intake.status().pending == 0)
    }

    @Test func aBinaryFieldIsIgnoredButABinaryInputIsDeadLettered() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        // Binary values through redis-server's own protocol (the REST API carries text only).
        try await xaddRaw(s, """
            xadd("XADD", "design:jobs", "*", "input", '{"prompt": "with a thumbnail"}', "owner", "alice", "thumb", b"\\x89PNG\\r\\n\\x1a\\n\\x00\\xff")
            xadd("XADD", "design:jobs", "*", "input", b'{"prompt": "\\xff\\xfe"}')
            xadd("XADD", "design:jobs", "*", "input", '{"prompt": "plain"}')
            """)
        let (engine, intake) = try await run(s, folder)
        let jobs = try engine.jobs(status: .completed)
        #expect(jobs.count == 2)
        #expect(jobs.contains { $0.owner == "alice" }, "the entry with a binary side field became a job")
        let dead = try await deadLetters(s)
        #expect(dead.count == 1)
        #expect(dead.first?["dead_reason"] == "field 'input' is not UTF-8 text")
        #expect(dead.first?["input"]?.hasPrefix("base64:") == true, "\(dead)")
        #expect(try await intake.status().pending == 0)
    }

    /// A NUL in an entry's idempotency key: the key was stored whole but read back cut at the
    /// NUL, so the event's hash no longer checked out (the log failed `verify` for good), and a
    /// redelivered entry with the same key failed on the unique index, holding the intake for
    /// good. Now the log refuses the key and the entry is dead-lettered, twice, and the others run.
    @Test func anIdempotencyKeyWithANULIsDeadLetteredAndTheLogStillVerifies() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        try await xaddRaw(s, """
            for _ in range(2):
                xadd("XADD", "design:jobs", "*", "input", '{"prompt": "poison"}', "idempotency_key", b"req-2\\x00x")
            xadd("XADD", "design:jobs", "*", "input", '{"prompt": "after"}', "idempotency_key", "req-3")
            """)
        let (engine, intake) = try await run(s, folder)
        #expect(try engine.jobs(status: .completed).count == 1)
        let dead = try await deadLetters(s)
        #expect(dead.count == 2)
        #expect(dead.allSatisfy { $0["dead_reason"]?.contains("an idempotency key must not hold a NUL") == true }, "\(dead)")
        #expect(try await intake.status().pending == 0)
        #expect(try Ledger.openReadOnly(path: folder.path("log.sqlite")).verify().isValid)
    }
}
