import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// A `jobs` table dropped from a log left at an older schema (opened without migrating) is not
/// recreated in the newest shape: the log's own migration v6 (which adds `owner`) would then
/// fail. The runner says what to do instead, and changes nothing.
@Suite struct OlderSchemaJobsTableTests {
    @Test func aDroppedTableOnAV5LogIsNotRecreatedInTheNewestShape() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("older-jobs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("v5.sqlite").path
        let q = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(q, upTo: "v5: engine snapshots")
        try await q.write { db in try db.execute(sql: "DROP TABLE jobs") }
        try q.close()
        let v5 = try Ledger.open(path: path, create: false, migrate: false)
        #expect(v5.schemaVersion == 5)
        _ = try await v5.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design"))))
        var options = ProjectionRunner.Options(owner: "test")
        options.logger.logLevel = .critical
        await #expect { try await ProjectionRunner(ledger: v5, options: options).catchUp() } throws: { error in
            "\(error)".contains("export it and import it into a new log")
        }
        let tables = try v5.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'table'") }
        #expect(!tables.contains("jobs"), "recreated in the newest shape")
    }
}
