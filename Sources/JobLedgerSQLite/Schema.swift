import GRDB
import JobLedger

/// The log's schema, created and upgraded by GRDB's migrator. The file is marked with an
/// application id so that `jobledger` never mistakes another SQLite file for a log, and with
/// `user_version` so that an older jobledger refuses a newer schema instead of misreading it.
enum Schema {
    /// `PRAGMA application_id`: "JLDG".
    static let applicationID: Int32 = 0x4A4C_4447
    /// The newest schema this build knows.
    static let version = 1

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        // Each migration ends by setting user_version to its number.
        m.registerMigration("v1: events, assets") { db in
            let types = EventType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            try db.execute(sql: """
                CREATE TABLE events (
                    seq              INTEGER PRIMARY KEY,
                    job_id           TEXT    NOT NULL CHECK (length(job_id) BETWEEN 1 AND 128),
                    version          INTEGER NOT NULL CHECK (version >= 1),
                    type             TEXT    NOT NULL CHECK (type IN (\(types))),
                    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
                    recorded_at      INTEGER NOT NULL,
                    idempotency_key  TEXT    CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 256),
                    payload_digest   TEXT    NOT NULL CHECK (length(payload_digest) = 64),
                    prev_hash        TEXT    NOT NULL CHECK (length(prev_hash) = 64),
                    hash             TEXT    NOT NULL CHECK (length(hash) = 64),
                    UNIQUE (job_id, version),
                    CHECK (version > 1 OR type = 'queued')  -- a job begins with 'queued' (later 'queued's requeue a failed job)
                ) STRICT;
                CREATE UNIQUE INDEX events_idempotency_key ON events(idempotency_key) WHERE idempotency_key IS NOT NULL;
                CREATE TRIGGER events_no_update BEFORE UPDATE ON events
                BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
                CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; DELETE is refused'); END;
                CREATE TABLE assets (
                    sha256        TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
                    size          INTEGER NOT NULL CHECK (size >= 0),
                    content_type  TEXT    NOT NULL,
                    bytes         BLOB    NOT NULL,
                    staged_at     INTEGER NOT NULL,
                    CHECK (length(bytes) = size)
                ) STRICT;
                """)
            // Marked in the same transaction as the tables, so a crash never leaves a half-made log.
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        return m
    }
}
