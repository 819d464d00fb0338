import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// v8 writes the value lists' CHECKs as comparisons: a v7 log with rows is upgraded in place to
/// the same schema a new log has, keeps every row and its chain, still refuses a value outside
/// the lists, and no insert into the three tables builds a temporary b-tree any more.
@Suite struct ValueCheckMigrationTests {
    func schema(_ path: String) throws -> [String] {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        return try q.read { try String.fetchAll($0, sql: "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'grdb%' ORDER BY name") }
    }

    func temporaryBTrees(_ path: String, _ table: String) throws -> Int {
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        return try q.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN INSERT INTO \(table) DEFAULT VALUES").filter { ($0["opcode"] as String) == "OpenEphemeral" }.count
        }
    }

    @Test func aV7LogIsUpgradedToTheNewChecksWithItsRowsUntouched() async throws {
        let dir = TempDir()
        let old = dir.path("v7.sqlite"), new = dir.path("new.sqlite")
        try await writeOldLog(old, upTo: "v7: projection errors", rows: [])
        var rows: [RawEvent] = []
        do {
            let v7 = try Ledger.open(path: old, create: false, migrate: false)
            #expect(v7.schemaVersion == 7)
            for i in 0..<5 { _ = try await v7.append(NewEvent(job: try JobID("job-\(i)"), payload: .queued(.init(kind: "design")))) }
            try v7.forEachRawEvent { rows.append($0) }
            #expect(try v7.verify().isValid)
        }
        #expect(try temporaryBTrees(old, "events") == 1)  // the IN list, as before v8
        #expect(try schema(old).contains { $0.contains("CHECK (type IN (") })

        let ledger = try Ledger.open(path: old, create: false)
        #expect(ledger.schemaVersion == Schema.version)
        _ = try Ledger.open(path: new)
        #expect(try schema(old) == schema(new))
        for table in ["events", "jobs", "outbox"] { #expect(try temporaryBTrees(old, table) == 0, "\(table)") }
        var after: [RawEvent] = []
        try ledger.forEachRawEvent { after.append($0) }
        #expect(after == rows)
        #expect(try ledger.verify().isValid)

        // The same values are refused as before.
        let q = try DatabaseQueue(path: old)
        defer { try? q.close() }
        let error = #expect(throws: DatabaseError.self) {
            try q.write { try $0.execute(sql: "INSERT INTO outbox (projection, seq, job_id, version, type, target, body, status, next_attempt_at, created_at) VALUES ('p', 1, 'j', 1, 'queued', 't', 'b', 'lost', 0, 0)") }
        }
        #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK, "\(String(describing: error))")
        #expect(throws: DatabaseError.self) {
            try q.write { try $0.execute(sql: "INSERT INTO outbox (projection, seq, job_id, version, type, target, body, next_attempt_at, created_at, supersedable) VALUES ('p', 1, 'j', 1, 'queued', 't', 'b', 0, 0, 2)") }
        }
    }

    /// Where SQLite refuses to edit the schema (built in "defensive" mode), the log is still
    /// migrated, with its CHECKs as they were: nothing half-edited, the rows still checked.
    @Test func aRefusedSchemaEditLeavesTheChecksAsTheyWere() async throws {
        let dir = TempDir()
        let path = dir.path("v7.sqlite")
        try await writeOldLog(path, upTo: "v7: projection errors", rows: [])
        let before = try schema(path)
        let q = try DatabaseQueue(path: path)
        struct Refused: Error {}
        let edits = try await q.write { db -> Int in
            var n = 0
            try ValueChecks.apply(db) { db, table, sql in
                n += 1
                if n == 2 { throw Refused() }  // the second table's edit refused: the first is undone too
                try ValueChecks.edit(db, table: table, sql: sql)
            }
            return n
        }
        try q.close()
        #expect(edits == 2)
        #expect(try schema(path) == before)
        #expect(try temporaryBTrees(path, "events") == 1)
        #expect(try temporaryBTrees(path, "jobs") == 1)
    }
}
