import Foundation
import JobLedger
@testable import JobLedgerUpstash
import Synchronization
import Testing

/// A clock the test moves by hand (milliseconds since 1970).
final class TestClock: Sendable {
    let now = Mutex<Int64>(0)
    func set(_ t: Int64) { now.withLock { $0 = t } }
    var function: @Sendable () -> Int64 { { self.now.withLock { $0 } } }
}

@Suite(.serialized) struct RateLimiterTests {
    enum Backend: String, CaseIterable { case memory, sqlite, upstash }

    /// Calls at given times and the answers, the same for every backend.
    func run(_ algorithm: RateLimitAlgorithm, _ backend: Backend, standIn: UpstashStandIn, folder: TempFolder,
             calls: [(t: Int64, rate: Int)]) async throws -> [RateLimitResult] {
        let clock = TestClock()
        let prefix = "test-\(backend)-\(UUID().uuidString)"
        let limiter: any RateLimiter
        switch backend {
        case .memory: limiter = InMemoryRateLimiter(algorithm, prefix: prefix, now: clock.function)
        case .sqlite: limiter = try SQLiteRateLimiter(path: folder.path("limits-\(UUID().uuidString).sqlite"), algorithm, prefix: prefix, now: clock.function)
        case .upstash: limiter = UpstashRateLimiter(redis: standIn.client(), algorithm, prefix: prefix, now: clock.function)
        }
        var out: [RateLimitResult] = []
        for c in calls {
            clock.set(c.t)
            out.append(try await limiter.limit("user-1", rate: c.rate))
        }
        return out
    }

    @Test func fixedWindowEdges() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let w: Int64 = 1_000_000  // a window starts at every multiple of 1000 s since 1970
        // Upstash's own keys expire on real time: a window of 1000 s outlives the test.
        let calls: [(t: Int64, rate: Int)] = [(w, 1), (w + 1, 1), (w + 2, 1), (w + 3, 1), (2 * w - 1, 1), (2 * w, 1), (2 * w + 5, 2), (2 * w + 6, 1)]
        for b in Backend.allCases {
            let r = try await run(.fixedWindow(limit: 3, window: .seconds(1000)), b, standIn: s, folder: folder, calls: calls)
            #expect(r.map(\.allowed) == [true, true, true, false, false, true, true, false], "\(b)")
            #expect(r.map(\.remaining) == [2, 1, 0, 0, 0, 2, 0, 0], "\(b)")
            #expect(r[0].reset == 2 * w && r[5].reset == 3 * w, "\(b)")
        }
    }

    @Test func slidingWindowEdges() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let w: Int64 = 1_000_000
        // 4 in window 1; halfway into window 2 the previous window weighs floor(0.5 · 4) = 2, so
        // 2 more pass; at its very end it weighs 0 and the window's own 2 leave 2 more.
        let calls: [(t: Int64, rate: Int)] = [(w, 1), (w + 1, 1), (w + 2, 1), (w + 3, 1), (w + 4, 1),
                                              (2 * w + w / 2, 1), (2 * w + w / 2, 1), (2 * w + w / 2, 1),
                                              (3 * w - 1, 1), (3 * w - 1, 1), (3 * w - 1, 1)]
        for b in Backend.allCases {
            let r = try await run(.slidingWindow(limit: 4, window: .seconds(1000)), b, standIn: s, folder: folder, calls: calls)
            #expect(r.map(\.allowed) == [true, true, true, true, false, true, true, false, true, true, false], "\(b)")
            #expect(r.map(\.remaining) == [3, 2, 1, 0, 0, 1, 0, 0, 1, 0, 0], "\(b)")
        }
    }

    @Test func tokenBucketEdges() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let t0: Int64 = 1_800_000_000_000
        let i: Int64 = 100_000
        // 3 tokens, 1 back every 100 s: the 4th call waits for the refill; asking for 2 when 1 is
        // left is refused and takes nothing (the next single call still passes).
        let calls: [(t: Int64, rate: Int)] = [(t0, 1), (t0, 1), (t0, 1), (t0 + 1, 1), (t0 + i - 1, 1), (t0 + i, 2), (t0 + i, 1), (t0 + i, 1)]
        for b in Backend.allCases {
            let r = try await run(.tokenBucket(refillRate: 1, interval: .seconds(100), maxTokens: 3), b, standIn: s, folder: folder, calls: calls)
            #expect(r.map(\.allowed) == [true, true, true, false, false, false, true, false], "\(b)")
            #expect(r.map(\.remaining) == [2, 1, 0, 0, 0, 0, 0, 0], "\(b)")
            #expect(r[3].reset == t0 + i && r[6].reset == t0 + 2 * i, "\(b)")
        }
    }

    /// The Swift limiter and the official Python limiter (`upstash-ratelimit`) count in one
    /// window: together they admit exactly the limit.
    @Test(arguments: ["fixed", "sliding"])
    func swiftAndThePythonLimiterShareOneWindow(_ algorithm: String) async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let prefix = "interop-\(algorithm)"
        let swift = UpstashRateLimiter(redis: s.client(), algorithm == "fixed" ? .fixedWindow(limit: 10, window: .seconds(3600))
                                                                                  : .slidingWindow(limit: 10, window: .seconds(3600)), prefix: prefix)
        let python = """
            from upstash_redis import Redis
            from upstash_ratelimit import Ratelimit, FixedWindow, SlidingWindow
            lim = \(algorithm == "fixed" ? "FixedWindow" : "SlidingWindow")(max_requests=10, window=3600)
            rl = Ratelimit(redis=Redis.from_env(), limiter=lim, prefix="\(prefix)")
            print(sum(rl.limit("shared-user").allowed for _ in range(4)))
            """
        var admitted = 0
        for _ in 0..<2 {
            for _ in 0..<4 { if try await swift.limit("shared-user").allowed { admitted += 1 } }
            admitted += Int(try await runSDK(python, standIn: s).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -100
        }
        #expect(admitted == 10)
        #expect(try await swift.limit("shared-user").allowed == false)
    }
}
