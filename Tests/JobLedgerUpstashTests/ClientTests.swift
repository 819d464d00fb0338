import Foundation
import JobLedger
@testable import JobLedgerUpstash
import Testing

@Suite(.serialized) struct ClientTests {
    @Test func commandsPipelineAndTransactionAgainstARealRedis() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let redis = s.client()
        #expect(try await redis.send(["SET", "greeting", "héllo 🎉"]).string == "OK")
        #expect(try await redis.send(["GET", "greeting"]).string == "héllo 🎉")
        #expect(try await redis.send(["GET", "missing"]).isNull)
        #expect(try await redis.send(["INCR", "n"]) == .integer(1))
        let p = try await redis.pipeline([["SET", "a", "1"], ["INCR", "a"], ["HGET", "a", "f"], ["GET", "a"]])
        #expect(try p[1].get() == .integer(2))
        guard case .failure(let e) = p[2] else { Issue.record("WRONGTYPE expected"); return }
        #expect(e.isCommandError("WRONGTYPE"))
        #expect(try p[3].get().string == "2")  // a failing command does not stop the rest
        let t = try await redis.transaction([["SET", "b", "1"], ["INCR", "b"]])
        #expect(try t[1].get() == .integer(2))
        await #expect(throws: UpstashError.self) { try await redis.transaction([["SET", "c", "1"], ["NOSUCHCOMMAND"]]) }
        #expect(try await redis.send(["GET", "c"]).isNull)  // a discarded transaction ran nothing
        // The sync token of the latest reply goes out with the next request.
        let token = redis.readYourWritesSyncToken
        #expect(!token.isEmpty)
        _ = try await redis.send(["PING"])
        var seen: [String] = []
        if case .array(let a)? = try await s.stats()["sync_tokens_received"] { seen = a.compactMap(\.stringValue) }
        #expect(seen.last == token)
    }

    @Test func base64RepliesAreDecodedAsTheSDKsDecodeThem() {
        #expect(RedisValue.decodeBase64Result(.string("OK")) == .bytes(Data("OK".utf8)))
        #expect(RedisValue.decodeBase64Result(.string("YmFy")) == .bytes(Data("bar".utf8)))
        #expect(RedisValue.decodeBase64Result(.string("T0s=")) == .bytes(Data("OK".utf8)))  // SRH encodes OK too
        #expect(RedisValue.decodeBase64Result(.string("not base64!")) == .bytes(Data("not base64!".utf8)))  // as @upstash/redis: kept
        #expect(RedisValue.decodeBase64Result(.array([.int(1), .null, .string("YQ==")])) == .array([.integer(1), .null, .bytes(Data("a".utf8))]))
        #expect(RedisValue.decodeBase64Result(.bool(true)) == nil)
    }

    @Test func fiveHundredsAreRetriedOnlyForCommandsThatMaySafelyRunTwice() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let redis = s.client()
        try await redis.send(["SET", "k", "v"])
        try await s.fault(["mode": "status", "status": 503, "count": 2])
        #expect(try await redis.send(["GET", "k"]).string == "v")  // retried twice, then answered
        try await s.fault(["mode": "status", "status": 500, "count": 1])
        do {
            try await redis.send(["INCR", "n"])
            Issue.record("INCR after a 500 must not be retried")
        } catch {
            #expect(error.isTransient)
        }
        #expect(try await redis.send(["GET", "n"]).isNull)  // the stand-in ran nothing, and nothing was resent
        try await s.fault(["mode": "status", "status": 429, "retry_after": "0", "count": 1])
        #expect(try await redis.send(["INCR", "n"]) == .integer(1))  // a 429 was refused, not run: safe to resend
        try await s.fault(["mode": "status", "status": 502, "body": "<html>bad gateway</html>", "count": 3])
        do {
            try await redis.send(["GET", "k"])
            Issue.record("three 502s exhaust two retries")
        } catch {
            #expect("\(error)".contains("502"))
        }
    }

    @Test func aTimeoutOrADroppedConnectionNeverRunsACommandTwice() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        // A timeout long enough that the request surely reaches the stand-in on a loaded machine
        // (at 300 ms a CI run once gave up before sending it), then a delay past it.
        let redis = s.client(timeout: .seconds(2))
        // The stand-in waits past the timeout, then runs the INCR: it applied, the client cannot know.
        try await s.fault(["mode": "delay", "ms": 3000, "count": 1])
        let before = try await s.requests()
        do {
            try await redis.send(["INCR", "t"])
            Issue.record("expected a timeout")
        } catch {
            guard case .unavailable(_, _, let mayHaveApplied) = error else { Issue.record("\(error)"); return }
            #expect(mayHaveApplied)
        }
        try await s.settled(requests: before + 1)  // the delayed command has arrived and run
        let check = s.client()
        let afterTimeout = try await check.send(["GET", "t"]).string
        #expect(afterTimeout == "1", "after the timeout")  // once, never resent
        // Run, then the connection dropped without an answer.
        try await s.fault(["mode": "drop_after", "count": 1])
        let patient = s.client(retries: 2)  // no short timeout here: the drop, not a timeout, ends it
        let beforeDrop = try await s.requests()
        await #expect(throws: UpstashError.self) { try await patient.send(["INCR", "t"]) }
        try await s.settled(requests: beforeDrop + 1)
        let afterDrop = try await check.send(["GET", "t"]).string
        #expect(afterDrop == "2", "after the dropped connection")
        // A read whose connection dropped is simply asked again.
        try await s.fault(["mode": "drop", "count": 1])
        #expect(try await check.send(["GET", "t"]).string == "2")
        // Nothing listening: never reached, so even an INCR may be tried again; it fails as unavailable.
        let nowhere = UpstashRedis(url: URL(string: "http://127.0.0.1:9")!, token: "x", requestTimeout: .seconds(2), retries: 1)
        do { try await nowhere.send(["INCR", "t"]); Issue.record("expected a failure") } catch {
            guard case .unavailable(_, _, let mayHaveApplied) = error else { Issue.record("\(error)"); return }
            #expect(!mayHaveApplied)
        }
    }

    @Test func aWrongTokenIsReportedOnceClearlyAndNeverShown() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let secret = "wrong-token-3fa9c1d7e2"
        let redis = s.client(token: secret)
        do {
            try await redis.send(["GET", "k"])
            Issue.record("expected 401")
        } catch {
            guard case .unauthorized(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("WRONGPASS"))
            #expect(message.contains("UPSTASH_REDIS_REST_TOKEN"))
            #expect(!message.contains(secret))
            #expect(!"\(error)".contains(secret) && !String(reflecting: error).contains(secret))
        }
        let stats = try await s.stats()
        #expect(stats["requests"]?.intValue == 1)  // reported once: a 401 is not retried
        #expect(!"\(redis)".contains(secret) && !String(reflecting: redis).contains(secret))
        var dumped = ""
        dump(redis, to: &dumped)
        #expect(!dumped.contains(secret))
    }

    @Test func redirectsAreNotFollowedAndMissingResultsAreTyped() {
        let r = UpstashHTTPResponse(status: 307, headers: ["Location": "https://elsewhere.example/"])
        let e = UpstashRedis.interpretForTests(r)
        guard case .failure(.rejected(let m)) = e else { Issue.record("\(e)"); return }
        #expect(m.contains("does not follow redirects"))
    }

    @Test func idempotencyJudgement() {
        #expect(UpstashRedis.isIdempotent(["GET", "k"]))
        #expect(UpstashRedis.isIdempotent(["SET", "k", "v"]))
        #expect(!UpstashRedis.isIdempotent(["SET", "k", "v", "GET"]))
        #expect(!UpstashRedis.isIdempotent(["INCR", "k"]))
        #expect(!UpstashRedis.isIdempotent(["XADD", "s", "*", "f", "v"]))
        #expect(UpstashRedis.isIdempotent(["XADD", "s", "5-1", "f", "v"]))
        #expect(!UpstashRedis.isIdempotent(["EVAL", "return 1", "0"]))
        #expect(!UpstashRedis.isIdempotent(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]))
        #expect(UpstashRedis.isIdempotent(["XACK", "s", "g", "1-0"]))
    }
}

extension UpstashRedis {
    static func interpretForTests(_ r: UpstashHTTPResponse) -> Result<JSONValue, UpstashError> {
        interpret(r, endpoint: "http://127.0.0.1:1", label: "GET", requestURL: URL(string: "http://127.0.0.1:1")!)
    }
}
