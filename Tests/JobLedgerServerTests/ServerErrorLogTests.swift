import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// A 500 is the operator's business: its cause goes to the server's log (the client gets only
/// "the log could not be read"), so a damaged log does not fail every request without a word.
@Suite struct ServerErrorLogTests {
    @Test func aStorageErrorBehindA500IsLoggedWithItsCause() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let id = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        let auth = try await h.auth("user_alice", role: "admin")
        // Damage the log behind the server's back: its events table is gone.
        let other = try DatabaseQueue(path: h.dir.appendingPathComponent("log.sqlite").path)
        try await other.write { db in try db.execute(sql: "DROP TRIGGER events_no_delete; DROP TRIGGER events_no_update; DROP TABLE events") }
        let log = LogCapture()
        try await h.live(logger: log.logger) { c async throws in
            let r = try await c.executeRequest(uri: "/api/jobs/\(id)/events", method: .get, headers: auth, body: nil)
            #expect(r.status == .internalServerError)
            #expect(!r.body.text.contains("no such table"), "the cause stays on the server: \(r.body.text)")
        }
        let logged = log.lines.filter { $0.hasPrefix("error request failed") }
        #expect(logged.contains { $0.contains("no such table") && $0.contains("/api/jobs/\(id)/events") }, "\(log.lines)")
    }
}
