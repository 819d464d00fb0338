import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerEngine
import JobLedgerServer
import Testing

/// A cancel of a job running in the server's own worker answered 200 at once, although its
/// `canceled` is recorded only when the handler returns: a server killed in between recorded
/// nothing, and the job ran again. It answers 202 until the cancel is in the log.
@Suite struct CancelAcceptedTests {
    @Test func aJobRunningHereIs202UntilItsCancelIsRecorded() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let running = Gate(), stopped = Gate()
        h.engine.register(kind: "gated") { _ in
            running.open()
            // A step that finishes before it looks at its cancellation: let through after the
            // cancel's answer, so the handler has certainly not returned when the route reads the job.
            await stopped.pass()
            throw CancellationError()
        }
        let admin = try await h.auth("user_admin", role: "admin")
        try await h.live { c async throws in
            let id = try #require(try await c.api(.post, "/api/jobs/gated", "/api/jobs/{kind}", headers: admin, body: body(#"{"input":{}}"#))
                .body.json?["id"]?.stringValue)
            let work = Task { try await h.engine.workUntilIdle() }
            defer { work.cancel() }
            await running.pass()
            let first = try await c.api(.post, "/api/jobs/\(id)/cancel", "/api/jobs/{id}/cancel", headers: admin)
            #expect(first.status == .accepted, "\(first.body.text)")
            #expect(first.body.json?["state"] == "running")
            stopped.open()
            let final = try await h.engine.wait(for: JobID(id))
            #expect(final.status == .canceled)
            let again = try await c.api(.post, "/api/jobs/\(id)/cancel", "/api/jobs/{id}/cancel", headers: admin)
            #expect(again.status == .ok && again.body.json?["state"] == "canceled", "\(again.body.text)")
        }
    }
}
