import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// A command that writes upgraded an older log in place without a word, and from then on the
/// jobledger that wrote it refused the file. It now says so, once, on stderr.
@Suite struct MigrationNoticeCLITests {
    let scratch = Scratch()

    /// A log at schema v5 with one queued job (hashed as v5 hashes, rule v2), as a jobledger of
    /// that time left it.
    func v5Log(_ name: String) async throws -> String {
        let path = scratch.path(name)
        let q = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(q, upTo: "v5: engine snapshots")
        try q.close()
        let old = try Ledger.open(path: path, create: false, migrate: false)
        #expect(old.schemaVersion == 5)
        _ = try await old.append(NewEvent(job: try JobID("old-1"), payload: .queued(.init(kind: "design"))))
        return path
    }

    @Test func theCommandThatUpgradesALogSaysSoOnce() async throws {
        let path = try await v5Log("old.sqlite")
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        // Reading it migrates nothing, so says nothing.
        let look = try await jobledger(["jobs", "--db", path], in: scratch)
        #expect(look.status == 0 && look.stderr.isEmpty, "\(look)")

        let first = try await jobledger(["submit", "design", "--db", path], in: scratch)
        #expect(first.status == 0, "\(first)")
        #expect(first.stderrLines == ["jobledger: migrated \(full) from schema v5 to v\(Schema.version) (upgraded in place: "
                                      + "a jobledger built before schema v\(Schema.version) refuses it from now on)"], "\(first)")
        let again = try await jobledger(["submit", "design", "--db", path], in: scratch)
        #expect(again.status == 0 && again.stderr.isEmpty, "\(again)")
        let verify = try await jobledger(["verify", "--db", path], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        #expect(try Ledger.openReadOnly(path: path).schemaVersion == Schema.version)
    }

    /// `project` (and `work`, `serve`) open the log the same way: the line comes first.
    @Test func projectSaysItToo() async throws {
        let path = try await v5Log("p.sqlite")
        let r = try await jobledger(["project", "--once", "--db", path], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stderrLines.first?.contains("from schema v5 to v\(Schema.version)") == true, "\(r)")
    }
}
