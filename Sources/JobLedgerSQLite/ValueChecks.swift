import GRDB
import JobLedger

/// The CHECKs that hold a column to a list of values (`type`, `state`, `status`,
/// `supersedable`), written as comparisons joined by OR instead of `IN (…)`. The two mean the
/// same, but SQLite evaluates a CHECK's `IN` list by building a temporary b-tree of the values on
/// every row written: with the lists, about a sixth of an engine burn-down's time and a tenth of
/// a submit's went to opening and closing those b-trees.
enum ValueChecks {
    /// One column's CHECK in a table: as the migrations before v8 wrote it, and as v8 writes it.
    struct Rewrite {
        let table: String
        let before: String
        let after: String

        init(table: String, column: String, values: [String], quoted: Bool = true) {
            let shown = values.map { quoted ? "'\($0)'" : $0 }
            self.table = table
            before = "CHECK (\(column) IN (\(shown.joined(separator: ", "))))"
            after = "CHECK (\(shown.map { "\(column) = \($0)" }.joined(separator: " OR ")))"
        }
    }

    static let rewrites: [Rewrite] = [
        Rewrite(table: "events", column: "type", values: EventType.allCases.map(\.rawValue)),
        Rewrite(table: "jobs", column: "state", values: JobStatus.allCases.map(\.rawValue)),
        Rewrite(table: "outbox", column: "type", values: EventType.allCases.map(\.rawValue)),
        Rewrite(table: "outbox", column: "status", values: ["pending", "sent", "dead", "coalesced"]),
        Rewrite(table: "outbox", column: "supersedable", values: ["0", "1"], quoted: false),
    ]

    /// Rewrites the CHECKs in the stored schema, in the migration's transaction: SQLite cannot
    /// alter a CHECK, and rebuilding the events table would copy every row, while the two forms
    /// accept exactly the same rows (so no row needs checking again). The procedure SQLite's
    /// documentation gives for such a change: the table's `CREATE` text edited with
    /// `writable_schema`, the schema cookie moved on (other connections read the schema again),
    /// and the schema reloaded. A table whose text does not hold the expected CHECK (edited by
    /// someone else) is left as it is: its CHECK still holds, only slower. So is every table when
    /// the edit is refused (an SQLite built in "defensive" mode forbids `writable_schema`): the
    /// log is then still migrated, with its CHECKs as they were.
    static func apply(_ db: Database, edit: (Database, _ table: String, _ sql: String) throws -> Void = ValueChecks.edit) throws {
        let cookie = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        do {
            try db.inSavepoint {
                try db.execute(sql: "PRAGMA writable_schema = ON")
                var changed = false
                for table in Set(rewrites.map(\.table)).sorted() {
                    guard var sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", arguments: [table])
                    else { continue }
                    let before = sql
                    for r in rewrites where r.table == table { sql = sql.replacingOccurrences(of: r.before, with: r.after) }
                    guard sql != before else { continue }
                    try edit(db, table, sql)
                    changed = true
                }
                if changed { try db.execute(sql: "PRAGMA schema_version = \(cookie + 1)") }
                return .commit
            }
        } catch {
            // Refused: the savepoint rolled the edits back; the CHECKs stay in their IN form.
        }
        try db.execute(sql: "PRAGMA writable_schema = RESET")
    }

    /// Replaces a table's stored `CREATE` text.
    static func edit(_ db: Database, table: String, sql: String) throws {
        try db.execute(sql: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?", arguments: [sql, table])
    }
}
