import GRDB
import JobLedger

/// The `jobs` table as the newest schema has it (migrations v3, v6 and v8 together): what a
/// projection runner recreates when the table was dropped by hand. The table is derived from
/// the log, so nothing is lost with it; the rows are rebuilt from seq 1 once it is back.
package enum JobsTableSchema {
    /// The table's `CREATE` text and its indexes, with the CHECKs in the form v8 writes them.
    static var create: String {
        let states = JobStatus.allCases.map { "state = '\($0.rawValue)'" }.joined(separator: " OR ")
        return """
            CREATE TABLE jobs (
                id             TEXT    PRIMARY KEY,
                kind           TEXT    NOT NULL,
                state          TEXT    NOT NULL CHECK (\(states)),
                attempt        INTEGER NOT NULL CHECK (attempt >= 0),
                max_attempts   INTEGER NOT NULL CHECK (max_attempts >= 1),
                progress       REAL    NOT NULL CHECK (progress BETWEEN 0 AND 1),
                message        TEXT,
                preview_sha256 TEXT,
                preview_url    TEXT,
                result_sha256  TEXT,
                result_url     TEXT,
                error_code     TEXT,
                error_message  TEXT,
                created_at     INTEGER NOT NULL,
                started_at     INTEGER,
                finished_at    INTEGER,
                updated_at     INTEGER NOT NULL,
                version        INTEGER NOT NULL CHECK (version >= 1),
                seq            INTEGER NOT NULL,
                owner          TEXT
            ) STRICT;
            CREATE INDEX jobs_by_state ON jobs(state, kind, created_at);
            CREATE INDEX jobs_by_owner ON jobs(owner, id, state) WHERE owner IS NOT NULL;
            CREATE INDEX jobs_by_state_id ON jobs(state, id);
            CREATE INDEX jobs_by_kind ON jobs(kind, id, state);
            """
    }

    /// Whether the file has its `jobs` table. Read from `sqlite_schema` each time (another
    /// process may have dropped it since this connection last looked).
    package static func exists(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'jobs')")) ?? false
    }

    /// Refuses to read a `jobs` table that is not there, saying what happened and what fixes it
    /// (instead of SQLite's "no such table: jobs").
    package static func requireTable(_ db: Database, path: String) throws {
        guard try exists(db) else { throw LedgerError.missingProjectionTable(path: path, table: "jobs") }
    }

    /// Recreates the table when it is missing, in the caller's transaction; true when it did
    /// (the caller then sets the jobs projection's checkpoint back to 0, in the same transaction).
    /// Only at the newest schema: the table made here is the newest's, and a log left at an
    /// older one (opened without migrating) would then fail its own migrations later (v6 adds
    /// the `owner` column this table would already have). Such a log cannot be migrated as it
    /// is either (its migrations alter the `jobs` table), so the way out is a new log.
    package static func restore(_ db: Database) throws -> Bool {
        guard try !exists(db) else { return false }
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard version == Schema.version else {
            throw LedgerError.storage("the jobs table is missing from this log at schema v\(version), whose migrations to v\(Schema.version) need it; nothing of the log is lost: export it and import it into a new log (jobledger export --db <this log> > log.ndjson, then jobledger import --db new.sqlite log.ndjson), which rebuilds the table")
        }
        try db.execute(sql: create)
        return true
    }
}
