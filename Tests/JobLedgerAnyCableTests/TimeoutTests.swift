import Foundation
import JobLedger
import Testing
@testable import JobLedgerAnyCable

/// A timeout under a second is honoured (FoundationNetworking alone would drop the fraction and
/// end the request at once): an answer inside it arrives, and a late one times out at the limit,
/// not at 0 and not at the next whole second.
@Suite(.serialized) struct AnyCableTimeoutTests {
    static let key = "standin-key-7f3e9c"

    @Test func aSubSecondTimeoutIsHonoured() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let p = [Publication(stream: "job:j", message: message(job: "j", version: 1, seq: 1))]
        try await standIn.fault(["mode": "delay", "ms": 50, "count": 1])
        try await AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), requestTimeout: .milliseconds(500)).deliver(p)
        #expect(try await standIn.received().count == 1)

        try await standIn.fault(["mode": "delay", "ms": 2000, "count": 1])
        let start = ContinuousClock.now
        do {
            try await AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), requestTimeout: .milliseconds(300)).deliver(p)
            Issue.record("expected a timeout")
        } catch {
            let waited = ContinuousClock.now - start
            #expect(waited >= .milliseconds(300) && waited < .milliseconds(900), "\(waited)")
            guard case .unavailable(let m, _) = error else { Issue.record("\(error)"); return }
            #expect(m.contains("timed out") && m.contains("0.3 seconds"), "\(m)")
        }
    }
}
