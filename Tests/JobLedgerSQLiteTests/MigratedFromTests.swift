import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// `Ledger.migratedFrom` says when an open upgraded an existing log in place (what `jobledger`
/// tells whoever runs it), and only then.
@Suite struct MigratedFromTests {
    @Test func onlyTheOpenThatUpgradesALogSaysFromWhichSchema() async throws {
        let dir = TempDir()
        let path = dir.path("v5.sqlite")
        try await writeOldLog(path, upTo: "v5: engine snapshots", rows: [])
        // Looking at it changes nothing and says nothing.
        #expect(try Ledger.openReadOnly(path: path).migratedFrom == nil)
        #expect(try Ledger.open(path: path, create: false, migrate: false).migratedFrom == nil)
        let upgraded = try Ledger.open(path: path, create: false)
        #expect(upgraded.migratedFrom == 5)
        #expect(upgraded.schemaVersion == Schema.version)
        // Once upgraded, no later open migrates it again.
        #expect(try Ledger.open(path: path, create: false).migratedFrom == nil)
        // A new log is created, not migrated.
        #expect(try Ledger.open(path: dir.path("new.sqlite")).migratedFrom == nil)
    }
}
