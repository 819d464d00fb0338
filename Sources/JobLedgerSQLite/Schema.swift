import GRDB
import JobLedger

/// The log's schema, created and upgraded by GRDB's migrator. The file is marked with an
/// application id so that `jobledger` never mistakes another SQLite file for a log, and with
/// `user_version` so that an older jobledger refuses a newer schema instead of misreading it.
enum Schema {
    /// `PRAGMA application_id`: "JLDG".
    static let applicationID: Int32 = 0x4A4C_4447
    /// The newest schema this build knows.
    static let version = 9

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
        // Projections: derived tables that can always be dropped and rebuilt from the events.
        m.registerMigration("v3: projections, jobs table, outbox, published blobs") { db in
            let states = JobStatus.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            let types = EventType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            try db.execute(sql: """
                CREATE TABLE projections (
                    name         TEXT    PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
                    checkpoint   INTEGER NOT NULL DEFAULT 0 CHECK (checkpoint >= 0),
                    applied      INTEGER NOT NULL DEFAULT 0 CHECK (applied >= 0),
                    owner        TEXT,
                    lease_until  INTEGER,
                    updated_at   INTEGER NOT NULL
                ) STRICT;
                CREATE TABLE jobs (
                    id             TEXT    PRIMARY KEY,
                    kind           TEXT    NOT NULL,
                    state          TEXT    NOT NULL CHECK (state IN (\(states))),
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
                    seq            INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX jobs_by_state ON jobs(state, kind, created_at);
                CREATE TABLE outbox (
                    projection       TEXT    NOT NULL,
                    seq              INTEGER NOT NULL,
                    job_id           TEXT    NOT NULL,
                    version          INTEGER NOT NULL,
                    type             TEXT    NOT NULL CHECK (type IN (\(types))),
                    target           TEXT    NOT NULL,
                    body             TEXT    NOT NULL,
                    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead', 'coalesced')),
                    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                    next_attempt_at  INTEGER NOT NULL,
                    last_error       TEXT,
                    created_at       INTEGER NOT NULL,
                    sent_at          INTEGER,
                    PRIMARY KEY (projection, seq)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX outbox_by_status ON outbox(projection, status, seq);
                CREATE INDEX outbox_by_job ON outbox(projection, job_id, status);
                CREATE TABLE blobs (
                    pathname     TEXT    PRIMARY KEY,
                    job_id       TEXT    NOT NULL,
                    role         TEXT    NOT NULL CHECK (role IN ('lowres', 'final')),
                    sha256       TEXT    NOT NULL CHECK (length(sha256) = 64),
                    url          TEXT    NOT NULL,
                    seq          INTEGER NOT NULL,
                    uploaded_at  INTEGER NOT NULL
                ) STRICT;
                """)
            try db.execute(sql: "PRAGMA user_version = 3")
        }
        // Fencing and a chain that covers idempotency keys. Events already recorded keep the
        // rule they were hashed under; `chain_rules` says from which seq on the new one applies.
        m.registerMigration("v4: idempotency keys in the hash chain, projection lease generations") { db in
            let rules = HashChain.Rule.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            try db.execute(sql: """
                ALTER TABLE projections ADD COLUMN generation INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0);
                ALTER TABLE outbox ADD COLUMN supersedable INTEGER NOT NULL DEFAULT 0 CHECK (supersedable IN (0, 1));
                -- Items a later item of the same job may supersede (coalesce): until v3 only the
                -- built-in broadcast projection's progress messages were.
                UPDATE outbox SET supersedable = 1 WHERE projection = 'broadcast' AND type = 'progress';
                CREATE TABLE chain_rules (
                    rule      TEXT    PRIMARY KEY CHECK (rule IN (\(rules))),
                    from_seq  INTEGER NOT NULL CHECK (from_seq >= 1)
                ) STRICT;
                INSERT INTO chain_rules (rule, from_seq) VALUES ('\(HashChain.Rule.v2.rawValue)', (SELECT coalesce(max(seq), 0) + 1 FROM events));
                CREATE TRIGGER chain_rules_no_update BEFORE UPDATE ON chain_rules WHEN EXISTS (SELECT 1 FROM events)
                BEGIN SELECT RAISE(ABORT, 'jobledger: the hash rules of a log with events are fixed; UPDATE is refused'); END;
                CREATE TRIGGER chain_rules_no_delete BEFORE DELETE ON chain_rules
                BEGIN SELECT RAISE(ABORT, 'jobledger: the hash rules are fixed; DELETE is refused'); END;
                """)
            try db.execute(sql: "PRAGMA user_version = 4")
        }
        // A job engine's checkpointed fold (derived, like the projections): one row, the newest.
        m.registerMigration("v5: engine snapshots") { db in
            try db.execute(sql: """
                CREATE TABLE engine_snapshots (
                    id          INTEGER PRIMARY KEY CHECK (id = 1),
                    seq         INTEGER NOT NULL CHECK (seq >= 1),
                    hash        TEXT    NOT NULL CHECK (length(hash) = 64),
                    jobs        INTEGER NOT NULL CHECK (jobs >= 0),
                    parts       INTEGER NOT NULL CHECK (parts >= 0),
                    head        BLOB    NOT NULL,
                    written_at  INTEGER NOT NULL
                ) STRICT;
                CREATE TABLE engine_snapshot_parts (
                    part  INTEGER PRIMARY KEY CHECK (part >= 1),
                    body  BLOB    NOT NULL
                ) STRICT;
                """)
            try db.execute(sql: "PRAGMA user_version = 5")
        }
        // The jobs table's owner (who submitted a job through `jobledger serve`), and indexes that
        // give `serve`'s job list its order (id, newest first) under each filter, so a page is
        // read by keyset from an index instead of by folding the log. Rows already projected get
        // their owner as the lifecycle gives it: the latest `queued` event (up to the row's
        // version) that names one, in its `owner` field or, written before that field existed,
        // as `input._jobledger.owner`.
        m.registerMigration("v6: jobs owner, list indexes") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN owner TEXT;
                UPDATE jobs SET owner = (
                    SELECT o FROM (
                        SELECT e.version AS v, CASE
                            WHEN json_type(e.payload, '$.owner') = 'text' THEN json_extract(e.payload, '$.owner')
                            WHEN json_type(e.payload, '$.input._jobledger.owner') = 'text' THEN json_extract(e.payload, '$.input._jobledger.owner')
                            END AS o
                        FROM events e WHERE e.job_id = jobs.id AND e.type = 'queued' AND e.version <= jobs.version)
                    WHERE o IS NOT NULL ORDER BY v DESC LIMIT 1);
                CREATE INDEX jobs_by_owner ON jobs(owner, id, state) WHERE owner IS NOT NULL;
                CREATE INDEX jobs_by_state_id ON jobs(state, id);
                CREATE INDEX jobs_by_kind ON jobs(kind, id, state);
                """)
            try db.execute(sql: "PRAGMA user_version = 6")
        }
        // Why a projection's own code last failed (a state projection whose `apply` threw): kept
        // beside its checkpoint, which the failed batch left where it was, until a batch applies.
        m.registerMigration("v7: projection errors") { db in
            try db.execute(sql: "ALTER TABLE projections ADD COLUMN last_error TEXT")
            try db.execute(sql: "PRAGMA user_version = 7")
        }
        // The value lists' CHECKs as comparisons: the same rows accepted, without SQLite's
        // temporary b-tree per row written (`ValueChecks`).
        m.registerMigration("v8: value checks without a temporary b-tree per row") { db in
            try ValueChecks.apply(db)
            try db.execute(sql: "PRAGMA user_version = 8")
        }
        // Which seqs came in by an import (`ImportedRanges`): an export carries no asset bytes,
        // so the blob projection makes no upload for them, whenever it takes them in.
        m.registerMigration("v9: imports") { db in
            try db.execute(sql: """
                CREATE TABLE imports (
                    first_seq    INTEGER PRIMARY KEY CHECK (first_seq >= 1),
                    last_seq     INTEGER NOT NULL CHECK (last_seq >= first_seq),
                    imported_at  INTEGER NOT NULL
                ) STRICT;
                """)
            try db.execute(sql: "PRAGMA user_version = 9")
        }
        return m
    }
}
