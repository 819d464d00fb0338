import GRDB
import JobLedger

/// The log's schema, created and upgraded by GRDB's migrator. The file is marked with an
/// application id so that `jobledger` never mistakes another SQLite file for a log, and with
/// `user_version` so that an older jobledger refuses a newer schema instead of misreading it.
enum Schema {
    /// `PRAGMA application_id`: "JLDG".
    static let applicationID: Int32 = 0x4A4C_4447
    /// The newest schema this build knows.
    static let version = 2

    /// The events table. `begins` is the rule that ties versions to `queued`: v1 said "version
    /// 1 if and only if queued"; v2 allows a later `queued` (a failed job's requeue).
    static func eventsTable(_ name: String, begins: String) -> String {
        let types = EventType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return """
            CREATE TABLE \(name) (
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
                CHECK (\(begins))
            ) STRICT;
            """
    }

    /// The append-only guard and the idempotency index of the events table.
    static let eventsGuards = """
        CREATE UNIQUE INDEX events_idempotency_key ON events(idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; DELETE is refused'); END;
        """

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        // Each migration ends by setting user_version to its number, in its own transaction,
        // together with its changes: a crash never leaves a half-migrated log.
        m.registerMigration("v1: events, assets") { db in
            try db.execute(sql: eventsTable("events", begins: "(version = 1) = (type = 'queued')") + eventsGuards + """
                CREATE TABLE assets (
                    sha256        TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
                    size          INTEGER NOT NULL CHECK (size >= 0),
                    content_type  TEXT    NOT NULL,
                    bytes         BLOB    NOT NULL,
                    staged_at     INTEGER NOT NULL,
                    CHECK (length(bytes) = size)
                ) STRICT;
                """)
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        // SQLite cannot change a CHECK in place: the table is rebuilt, rows copied as they are
        // (seq, hashes and all), and the guards recreated. DROP TABLE fires no DELETE trigger.
        m.registerMigration("v2: a failed job may be requeued") { db in
            try db.execute(sql: """
                DROP TRIGGER events_no_update;
                DROP TRIGGER events_no_delete;
                DROP INDEX events_idempotency_key;
                """ + eventsTable("events_v2", begins: "version > 1 OR type = 'queued'") + """
                INSERT INTO events_v2 SELECT seq, job_id, version, type, payload, recorded_at, idempotency_key,
                                             payload_digest, prev_hash, hash FROM events ORDER BY seq;
                DROP TABLE events;
                ALTER TABLE events_v2 RENAME TO events;
                """ + eventsGuards)
            try db.execute(sql: "PRAGMA user_version = 2")
        }
        return m
    }
}
