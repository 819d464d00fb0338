import Foundation
import JobLedger
import JobLedgerUpstash
import Testing

/// A timeout under a second is honoured (FoundationNetworking alone would drop the fraction and
/// end the request at once): an answer inside it arrives, and a late one times out at the limit,
/// not at 0 and not at the next whole second.
@Suite(.serialized) struct TimeoutTests {
    @Test func aSubSecondTimeoutIsHonoured() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        try await s.client().send(["SET", "k", "v"])
        try await s.fault(["mode": "delay", "ms": 50, "count": 1])
        #expect(try await s.client(timeout: .milliseconds(500), retries: 0).send(["GET", "k"]).string == "v")

        try await s.fault(["mode": "delay", "ms": 2000, "count": 1])
        let before = try await s.requests()
        let start = ContinuousClock.now
        do {
            try await s.client(timeout: .milliseconds(300), retries: 0).send(["GET", "k"])
            Issue.record("expected a timeout")
        } catch {
            let waited = ContinuousClock.now - start
            #expect(waited >= .milliseconds(300) && waited < .milliseconds(900), "\(waited)")
            #expect("\(error)".contains("timed out") && "\(error)".contains("0.3 seconds"), "\(error)")
            guard case .unavailable(_, _, let mayHaveApplied) = error else { Issue.record("\(error)"); return }
            #expect(mayHaveApplied)
        }
        try await s.settled(requests: before + 1)
    }

    @Test func theVariableTakesAnyMillisecondsFromOne() throws {
        let base = ["UPSTASH_REDIS_REST_URL": "https://a.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "t"]
        #expect(try UpstashConfiguration(environment: base.merging(["JOBLEDGER_UPSTASH_TIMEOUT_MS": "999"]) { $1 }).requestTimeout
                == .milliseconds(999))
        #expect(try UpstashConfiguration(environment: base.merging(["JOBLEDGER_UPSTASH_TIMEOUT_MS": "1"]) { $1 }).requestTimeout
                == .milliseconds(1))
    }
}
