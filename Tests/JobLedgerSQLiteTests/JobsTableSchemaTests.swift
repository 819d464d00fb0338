import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The `jobs` table a runner recreates (`JobsTableSchema`, written out once) has the columns and
/// indexes the migrations make, so a table dropped by hand comes back as a new log has it.
@Suite struct JobsTableSchemaTests {
    static func shape(_ db: Database) throws -> [String] {
        let columns = try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('jobs') ORDER BY cid")
            .map { "column \($0[0] as String) \($0[1] as String) notnull=\($0[2] as Int) default=\(($0[3] as String?) ?? "-") pk=\($0[4] as Int)" }
        let indexes = try Row.fetchAll(db, sql: "SELECT name, \"unique\", partial FROM pragma_index_list('jobs') ORDER BY name").map { row -> String in
            let name: String = row[0]
            let keys = try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?) ORDER BY seqno", arguments: [name])
            return "index \(name) unique=\(row[1] as Int) partial=\(row[2] as Int) (\(keys.joined(separator: ", ")))"
        }
        return columns + indexes
    }

    @Test func theRecreatedTableHasTheMigratedShape() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-shape-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let q = try DatabaseQueue(path: dir.appendingPathComponent("log.sqlite").path)
        try Schema.migrator.migrate(q)
        let migrated = try q.read(Self.shape)
        #expect(migrated.contains { $0.hasPrefix("column owner") } && migrated.contains { $0.hasPrefix("index jobs_by_owner") })
        try q.write { db in
            try db.execute(sql: "DROP TABLE jobs")
            #expect(try JobsTableSchema.restore(db))
            #expect(try !JobsTableSchema.restore(db), "there already")
        }
        #expect(try q.read(Self.shape) == migrated)
    }
}
