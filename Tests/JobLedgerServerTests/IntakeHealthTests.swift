import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerUpstash
import Testing

/// The projections page shows the Upstash intake's standing when `serve` takes submissions
/// from a stream: the lag (entries no worker has taken in), pending entries and dead letters,
/// read from the stand-in's real Redis; and says so when Upstash does not answer.
@Suite struct IntakeHealthTests {
    @Test func theProjectionsPageShowsTheIntakesLagAndSaysWhenUpstashIsDown() async throws {
        try await withStandIn { s in
            var h = try await ServerHarness.make(); defer { h.cleanup() }
            let intake = UpstashStreamIntake(redis: s.client(), options: .init(stream: "design:requests", group: "workers", kinds: ["design"]))
            try await intake.ensureGroup()
            h.server.intake = intake
            let redis = s.client()
            for i in 0..<5 { _ = try await redis.send(["XADD", "design:requests", "*", "input", #"{"prompt":"p\#(i)"}"#]) }
            let cookie: HTTPFields = [.cookie: "__session=\(try await h.token("user_root", role: "admin"))"]
            try await h.live { c async throws in
                let page = try await c.executeRequest(uri: "/projections", method: .get, headers: cookie, body: nil)
                #expect(page.status == .ok)
                let html = String(buffer: page.body)
                #expect(html.contains("Intake (Upstash stream)"))
                #expect(html.contains(#"<td id="intake-lag">5</td>"#), "\(html)")
                #expect(!html.contains(s.token))
            }
            // A worker takes two in: the lag falls to 3.
            _ = try await redis.send(["XREADGROUP", "GROUP", "workers", "w1", "COUNT", "2", "STREAMS", "design:requests", ">"])
            try await h.live { c async throws in
                let html = String(buffer: try await c.executeRequest(uri: "/projections", method: .get, headers: cookie, body: nil).body)
                #expect(html.contains(#"<td id="intake-lag">3</td>"#))
            }
            // Upstash failing: the page still renders, and says so without the token.
            try await s.control("fault", ["mode": "status", "status": 500, "count": 100])
            try await h.live { c async throws in
                let page = try await c.executeRequest(uri: "/projections", method: .get, headers: cookie, body: nil)
                #expect(page.status == .ok)
                let html = String(buffer: page.body)
                #expect(html.contains(#"id="intake-error""#) && html.contains("Upstash did not answer"))
                #expect(!html.contains(s.token))
            }
        }
    }
}
