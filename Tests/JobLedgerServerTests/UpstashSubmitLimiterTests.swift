import Foundation
import JobLedgerTestSupport
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerUpstash
import Logging
import Synchronization
import Testing

/// The submit limit counted in Upstash Redis, as `serve` wires it when `UPSTASH_REDIS_REST_URL`
/// is set (`SubmitLimiter(limiter: UpstashRateLimiter(…, prefix: "jobledger:submit"))`), against
/// the local Upstash stand-in over a real redis-server: the edge of the limit, counts shared
/// through Redis by two servers, and what a submit gets when Upstash cannot answer (a 503
/// problem, never a free pass, and never the REST token).
@Suite struct UpstashSubmitLimiterTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#
    static let spec = RateLimitSpec(limit: 3, windowMilliseconds: 60_000)
    static let limitHeader = HTTPField.Name("RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("RateLimit-Reset")!

    @Test func theCallAfterTheLastAllowedOneIs429AndTheCountsLiveInRedis() async throws {
        try await withStandIn { s in
            let h = try await ServerHarness.make(limiter: s.limiter(Self.spec)); defer { h.cleanup() }
            // The clock sits at the start of a window so the sliding weight of the previous one is 0.
            h.clock.advance(ms: 60_000 - h.clock.now % 60_000)
            let window = h.clock.now / 60_000
            let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob")
            try await h.live { c async throws in
                for remaining in [2, 1, 0] {
                    let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                    #expect(r.status == .accepted)
                    #expect(r.headers[Self.limitHeader] == "3")
                    #expect(r.headers[Self.remainingHeader] == "\(remaining)")
                    #expect(r.headers[Self.resetHeader] == "60")
                }
                h.clock.advance(ms: 10_500)
                let refused = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                #expect(refused.status == .tooManyRequests)
                #expect(refused.headers[.retryAfter] == "50")
                #expect(refused.headers[Self.limitHeader] == "3")
                #expect(refused.headers[Self.remainingHeader] == "0")
                #expect(refused.headers[Self.resetHeader] == "50")
                #expect(refused.headers[.contentType] == "application/problem+json")
                #expect(refused.body.json?["type"] == "/problems/rate-limited")
                #expect(try h.ledger.eventCount() == 3)
                // Another user has a limit of their own.
                let bobs = try await c.api(.post, "/api/design", "/api/design", headers: bob, body: body(Self.design))
                #expect(bobs.status == .accepted && bobs.headers[Self.remainingHeader] == "2")
            }
            // The counts are Redis's, under @upstash/ratelimit's keys: Alice's three allowed
            // calls (a sliding window does not count a refused one), Bob's one.
            let redis = s.client()
            #expect(try await redis.send(["GET", "jobledger:submit:user_alice:\(window)"]).int == 3)
            #expect(try await redis.send(["GET", "jobledger:submit:user_bob:\(window)"]).int == 1)

            // A second server (its own log, its own limiter) behind another REST endpoint over the
            // same redis-server sees the same limits: Alice's is used up, Bob has one call fewer.
            try await withStandIn(sharingRedisOf: s) { s2 in
                let h2 = try await ServerHarness.make(limiter: s2.limiter(Self.spec)); defer { h2.cleanup() }
                h2.clock.advance(ms: h.clock.now - h2.clock.now)
                try await h2.live { c async throws in
                    let a = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                    #expect(a.status == .tooManyRequests)
                    let b = try await c.api(.post, "/api/design", "/api/design", headers: bob, body: body(Self.design))
                    #expect(b.status == .accepted && b.headers[Self.remainingHeader] == "1")
                }
                #expect(try h2.ledger.eventCount() == 1)
            }
        }
    }

    @Test func anUpstashAnswering500IsA503ProblemAndNothingIsQueued() async throws {
        try await withStandIn { s in
            let logs = LogCapture()
            let h = try await ServerHarness.make(limiter: s.limiter(Self.spec, logger: logs.logger)); defer { h.cleanup() }
            let alice = try await h.auth("user_alice")
            try await s.control("fault", ["mode": "status", "status": 500, "count": 100])
            try await h.live(logger: logs.logger) { c async throws in
                let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                expectLimiterUnavailable(r, secrets: [s.token])
                #expect(try h.ledger.eventCount() == 0)
                // Once Upstash answers again, so does the limit.
                try await s.control("reset")
                let ok = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                #expect(ok.status == .accepted && ok.headers[Self.remainingHeader] == "2")
            }
            // The operator's side: the Upstash client warned, naming the 500; no line has the token.
            #expect(logs.lines.contains { $0.hasPrefix("warning") && $0.contains("500") }, "\(logs.lines)")
            #expect(!logs.lines.contains { $0.contains(s.token) })
        }
    }

    @Test func anUnreachableUpstashIsA503ProblemAndNothingIsQueued() async throws {
        let token = "upstash-rest-token-\(UUID().uuidString)"
        let logs = LogCapture()
        let url = URL(string: "http://127.0.0.1:\(try closedLoopbackPort())")!
        let h = try await ServerHarness.make(limiter: { clock in
            let redis = UpstashRedis(url: url, token: UpstashSecret(token), requestTimeout: .seconds(5), logger: logs.logger)
            return SubmitLimiter(limiter: UpstashRateLimiter(redis: redis, Self.spec.algorithm, prefix: "jobledger:submit", now: clock.closure),
                                 now: clock.closure, logger: logs.logger)
        })
        defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live(logger: logs.logger) { c async throws in
            for _ in 0..<2 {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                expectLimiterUnavailable(r, secrets: [token])
            }
        }
        #expect(try h.ledger.eventCount() == 0)
        #expect(!logs.lines.contains { $0.contains(token) })
        // Said once for the two refused submits (at most once per 10 s while it lasts).
        #expect(logs.lines.filter { $0.hasPrefix("warning the rate limiter cannot answer") }.count == 1, "\(logs.lines)")
    }

    @Test func aTokenUpstashRefusesIsA503ProblemThatEchoesNeitherToken() async throws {
        try await withStandIn { s in
            let wrong = "wrong-upstash-token-\(UUID().uuidString)"
            let logs = LogCapture()
            let h = try await ServerHarness.make(limiter: s.limiter(Self.spec, token: wrong, logger: logs.logger)); defer { h.cleanup() }
            let alice = try await h.auth("user_alice")
            try await h.live(logger: logs.logger) { c async throws in
                let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
                expectLimiterUnavailable(r, secrets: [s.token, wrong])
            }
            #expect(try h.ledger.eventCount() == 0)
            #expect(!logs.lines.contains { $0.contains(s.token) || $0.contains(wrong) })
        }
    }
}

/// A submit refused because the limiter could not answer: 503 problem+json naming the rate
/// limiter, no `RateLimit-*` headers (there is no count to report), and no secret anywhere.
func expectLimiterUnavailable(_ r: TestResponse, secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == .serviceUnavailable, "\(r.body.text)", sourceLocation: sourceLocation)
    #expect(r.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let j = r.body.json
    #expect(j?["type"] == "/problems/unavailable", sourceLocation: sourceLocation)
    #expect(j?["status"] == 503, sourceLocation: sourceLocation)
    #expect(j?["detail"]?.stringValue?.contains("rate limiter is unavailable") == true, "\(r.body.text)", sourceLocation: sourceLocation)
    #expect(r.headers[HTTPField.Name("RateLimit-Remaining")!] == nil, sourceLocation: sourceLocation)
    #expect(r.headers[.retryAfter] == "5", "a 503 says when to try again", sourceLocation: sourceLocation)
    for secret in secrets {
        #expect(!r.body.text.contains(secret), sourceLocation: sourceLocation)
        #expect(!r.headers.contains { $0.value.contains(secret) }, sourceLocation: sourceLocation)
    }
}

/// Every line logged through `logger`, as `level message metadata`.
final class LogCapture: Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    var logger: Logger {
        var l = Logger(label: "test") { _ in Handler(capture: self) }
        l.logLevel = .trace
        return l
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let line = "\(event.level) \(event.message) \(all)"
            capture.store.withLock { $0.append(line) }
        }
    }
}

/// Runs `body` with an Upstash stand-in (its own redis-server, or `sharingRedisOf`'s), stopped
/// afterwards whatever happens.
func withStandIn<T>(sharingRedisOf other: UpstashStandIn? = nil, _ body: (UpstashStandIn) async throws -> T) async throws -> T {
    let s = try await UpstashStandIn.start(redisPort: other?.redisPort)
    do {
        let r = try await body(s)
        await s.stop()
        return r
    } catch {
        await s.stop()
        throw error
    }
}

/// `Fixtures/upstash/standin.py`: Upstash's REST API in front of a real redis-server on loopback,
/// started and stopped off the cooperative pool.
final class UpstashStandIn: Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/upstash/standin.py").path
    let port: Int
    let redisPort: Int
    let token: String
    private let process: Mutex<Process>
    private let stdin: FileHandle

    enum Failure: Error { case didNotStart(String) }

    /// Starts one on a free port; it starts its own redis-server unless `redisPort` names a running one.
    static func start(redisPort: Int? = nil) async throws -> UpstashStandIn {
        let token = "standin-token-\(UUID().uuidString)"
        return try await offPool { Result { try UpstashStandIn(token: token, redisPort: redisPort) } }.get()
    }

    private init(token: String, redisPort: Int?) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.script, "--port", "0", "--token", token, "--exit-on-stdin-eof"]
            + (redisPort.map { ["--redis-port", String($0)] } ?? [])
        let out = childPipe(), input = childPipe()
        p.standardOutput = out
        p.standardInput = input
        try startChild(p)
        var data = Data()
        let deadline = Date().addingTimeInterval(60)
        while !data.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        let line = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "LISTENING", let port = Int(parts[1]), let rp = Int(parts[2]) else {
            try? input.fileHandleForWriting.close()
            waitForChildExit(p, within: .seconds(600))
            throw Failure.didNotStart(line.isEmpty ? "no LISTENING line (is redis-server installed? apt-get install redis-server)" : line)
        }
        self.token = token; self.port = port; self.redisPort = rp
        process = Mutex(p); stdin = input.fileHandleForWriting
    }

    /// Closes its standard input (it then stops its redis-server, if it started one, and exits) and waits.
    func stop() async {
        try? stdin.close()
        if !(await offPool { [self] in process.withLock { waitForChildExit($0, within: .seconds(120)) } }) {
            Issue.record("the Upstash stand-in did not exit within 120 s of its stdin closing; it was killed")
        }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// A client of this stand-in (`token`: another token than its own).
    func client(token: String? = nil, logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) -> UpstashRedis {
        UpstashRedis(url: url, token: UpstashSecret(token ?? self.token), requestTimeout: .seconds(5), logger: logger)
    }

    /// The submit limiter `serve` makes for `spec` with Upstash, on the harness's clock.
    func limiter(_ spec: RateLimitSpec, token: String? = nil,
                 logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) -> (TestClock) -> SubmitLimiter {
        let redis = client(token: token, logger: logger)
        return { clock in
            SubmitLimiter(limiter: UpstashRateLimiter(redis: redis, spec.algorithm, prefix: "jobledger:submit", now: clock.closure), now: clock.closure)
        }
    }

    /// POSTs to a control endpoint (`fault`, `reset`, `flush`).
    func control(_ name: String, _ body: JSONValue = [:]) async throws {
        let r = try await URLSessionUpstashTransport().send(UpstashHTTPRequest(
            url: url.appendingPathComponent("_standin/\(name)"), headers: [("Content-Type", "application/json")], body: Data(body.canonicalText.utf8)))
        guard r.status == 200 else { throw Failure.didNotStart("control \(name) answered \(r.status)") }
    }
}
