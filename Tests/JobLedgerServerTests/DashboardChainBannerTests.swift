import Foundation
import GRDB
import HummingbirdTesting
import JobLedger
import Logging
@testable import JobLedgerServer
import Testing

/// The dashboard's banner for a log the chain check cannot read: SQLite's words name the log's
/// path on the server (a damaged file, a storage fault), so only an admin sees them; every
/// signed-in user sees that the chain could not be verified.
@Suite struct DashboardChainBannerTests {
    @Test func sqlitesWordsAreOnTheBannerForAdminsOnly() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        let other = try DatabaseQueue(path: h.ledger.path)
        try await other.write { db in try db.execute(sql: "DROP TRIGGER events_no_delete; DROP TRIGGER events_no_update; DROP TABLE events") }
        #expect(throws: (any Error).self) { _ = try h.server.chain.verdict(logger: LogCapture().logger) }
        let user = try await h.auth("user_alice"), admin = try await h.auth("user_root", role: "admin")
        try await h.live { c async throws in
            let seen = try await c.executeRequest(uri: "/", method: .get, headers: user, body: nil).body.text
            #expect(seen.contains("could not be verified"), "\(seen.prefix(400))")
            #expect(!seen.contains("no such table"), "a user sees SQLite's words")
            let adminSees = try await c.executeRequest(uri: "/", method: .get, headers: admin, body: nil).body.text
            #expect(adminSees.contains("no such table"), "\(adminSees.prefix(400))")
        }
    }
}
