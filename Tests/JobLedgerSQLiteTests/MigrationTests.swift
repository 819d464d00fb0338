import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// Writes a log file that has the migrations up to `migration` only, holding `rows` as they are.
func writeOldLog(_ path: String, upTo migration: String, rows: [RawEvent]) async throws {
    let q = try rawQueue(path)
    try Schema.migrator.migrate(q, upTo: migration)
    try await q.write { db in
        for r in rows {
            try db.execute(sql: "INSERT INTO events (\(RawEvent.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [r.seq, r.jobID, r.version, r.type, r.payload, r.recordedAt.milliseconds, r.idempotencyKey, r.payloadDigest, r.prevHash, r.hash])
        }
    }
    try q.close()
}

/// Rows as an older jobledger wrote them (hashed under `HashChain.Rule.v1`): appended
/// through a ledger on a schema-v3 file that is not upgraded.
func legacyRows(in dir: TempDir, _ write: (Ledger) async throws -> Void) async throws -> [RawEvent] {
    let path = dir.path("legacy-source-\(UUID().uuidString).sqlite")
    try await writeOldLog(path, upTo: "v3: projections, jobs table, outbox, published blobs", rows: [])
    let ledger = try Ledger.open(path: path, create: false, migrate: false)
    #expect(ledger.schemaVersion == 3)
    try await write(ledger)
    var rows: [RawEvent] = []
    try ledger.forEachRawEvent { rows.append($0) }
    return rows
}

@Suite struct MigrationTests {
    /// A log written under schema v1 (whose CHECK forbade a later 'queued') is upgraded in
    /// place: every row kept as it was, the chain intact, the guards back, and requeues allowed.
    @Test func aV1LogIsUpgradedAndKeepsItsChain() async throws {
        let dir = TempDir()
        // Rows of a real log, as the code of that time hashed them…
        let rows = try await legacyRows(in: dir) { source in
            _ = try await source.append(lifecycle(jid("a")))
            _ = try await source.append([NewEvent(job: jid("b"), payload: queued), NewEvent(job: jid("b"), payload: started()),
                                         NewEvent(job: jid("b"), payload: .failed(.init(code: "x", message: "", retryable: false, attempt: 1)))])
        }
        let head = ChainHead(seq: rows.last!.seq, hash: rows.last!.hash)
        // …copied into a file that has only migration v1.
        let path = dir.path("old.sqlite")
        try await writeOldLog(path, upTo: "v1: events, assets", rows: rows)
        let q = try rawQueue(path)
        #expect(try await q.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 1)
        try q.close()

        let ledger = try Ledger.open(path: path)
        #expect(try ledger.head() == head)
        #expect(try ledger.verify(expectHead: head).isValid)
        let check = try rawQueue(path)
        #expect(try await check.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.version)
        let triggers = try await check.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name") }
        #expect(triggers == ["chain_rules_no_delete", "chain_rules_no_update", "events_no_delete", "events_no_update"])
        await #expect(throws: DatabaseError.self) { try await check.write { try $0.execute(sql: "DELETE FROM events WHERE seq = 1") } }
        try check.close()
        // The point of v2: a failed job can be requeued.
        let requeued = try await ledger.append(NewEvent(job: jid("b"), payload: .queued(.init(kind: "design"))))
        #expect(requeued.version == 4)
    }
}

@Suite struct ReadWithoutMigratingTests {
    /// Looking at an older log (`migrate: false`, what inspection commands use) reads it as it
    /// is: the schema stays, projection tables read as empty, the events replay.
    @Test func anOlderLogOpenedForReadingKeepsItsSchema() async throws {
        let dir = TempDir()
        let rows = try await legacyRows(in: dir) { source in _ = try await source.append(lifecycle(jid("a"))) }
        let path = dir.path("v2.sqlite")
        try await writeOldLog(path, upTo: "v2: a failed job may be requeued", rows: rows)

        let ledger = try Ledger.open(path: path, create: false, migrate: false)
        #expect(ledger.schemaVersion == 2 && !ledger.hasProjections)
        #expect(try ledger.blobURLs().isEmpty && ledger.storedJobRows().isEmpty)
        #expect(try ledger.projectionStatus().allSatisfy { $0.checkpoint == 0 && $0.head == 6 })
        var fold = ReplayFold()
        #expect(try ledger.replay(into: &fold).events == 6)
        #expect(try ledger.verify().isValid)
        let check = try rawQueue(path)
        #expect(try await check.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 2)
        #expect(try await check.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master WHERE name = 'outbox'") } == 0)
        try check.close()
        // A writing open upgrades it.
        #expect(try Ledger.open(path: path, create: false).schemaVersion == Schema.version)
    }

    /// A v6 log (no `projections.last_error`) reads its projections' status as it is, read
    /// only; a writing open adds the column.
    @Test func aV6LogReadsItsStatusAndIsUpgradedForProjectionErrors() async throws {
        let dir = TempDir()
        let path = dir.path("v6.sqlite")
        try await writeOldLog(path, upTo: "v6: jobs owner, list indexes", rows: [])
        let q = try rawQueue(path)
        try await q.write { try $0.execute(sql: "INSERT INTO projections (name, checkpoint, updated_at) VALUES ('kinds', 0, 0)") }
        try q.close()
        let old = try Ledger.openReadOnly(path: path)
        #expect(old.schemaVersion == 6)
        #expect(try old.projectionStatus().map(\.name.rawValue) == ["kinds"])
        #expect(try old.projectionStatus()[0].lastError == nil)
        let ledger = try Ledger.open(path: path, create: false)
        #expect(ledger.schemaVersion == Schema.version)
        await ledger.recordProjectionFailure(ProjectionName("kinds"), reason: "out of ink")
        #expect(try ledger.projectionStatus()[0].lastError == "out of ink")
    }
}

@Suite struct HashRuleMigrationTests {
    /// A v3 log upgraded to v4 keeps its events under the rule they were hashed with; events
    /// appended after the upgrade cover their idempotency keys; `verify` says which range used
    /// which rule, and an edited key of a new event is caught.
    @Test func anUpgradedLogVerifiesEachRangeUnderItsOwnRule() async throws {
        let dir = TempDir()
        let rows = try await legacyRows(in: dir) { source in
            _ = try await source.append(NewEvent(job: jid("a"), payload: queued, idempotencyKey: "old-key"))
        }
        let path = dir.path("v3.sqlite")
        try await writeOldLog(path, upTo: "v3: projections, jobs table, outbox, published blobs", rows: rows)
        let ledger = try Ledger.open(path: path)
        #expect(ledger.schemaVersion == Schema.version)
        _ = try await ledger.append(NewEvent(job: jid("b"), payload: queued, idempotencyKey: "new-key"))
        _ = try await ledger.append(NewEvent(job: jid("b"), payload: started()))
        let report = try ledger.verify()
        #expect(report.isValid, "\(String(describing: report.problem))")
        #expect(report.rules == [.init(rule: .v1, from: 1, through: 1), .init(rule: .v2, from: 2, through: 3)])
        #expect(report.rules.map(\.description) == ["seq 1 under jobledger/v1 (idempotency keys not covered)", "seq 2–3 under jobledger/v2"])

        // The rules of a log with events are fixed, even to someone with the sqlite3 shell.
        let q = try rawQueue(path)
        await #expect(throws: DatabaseError.self) { try await q.write { try $0.execute(sql: "UPDATE chain_rules SET from_seq = 1") } }
        await #expect(throws: DatabaseError.self) { try await q.write { try $0.execute(sql: "DELETE FROM chain_rules") } }
        // Editing a key behind the triggers' back (rebuilding the table without them) breaks the
        // chain at a v2 event, but not at a v1 event, whose hash never covered its key.
        try await q.write { db in
            try db.execute(sql: """
                DROP TRIGGER events_no_update;
                UPDATE events SET idempotency_key = 'edited' WHERE seq = 2;
                """)
        }
        try q.close()
        let tampered = try Ledger.open(path: path, create: false, migrate: false).verify()
        #expect(tampered.problem?.seq == 2)
        #expect(tampered.problem?.message.contains("idempotency key") == true, "\(String(describing: tampered.problem))")
    }

    /// A new log hashes everything under the current rule from its first event.
    @Test func aNewLogUsesTheCurrentRuleThroughout() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("new.sqlite"))
        _ = try await ledger.append(lifecycle(jid("a")))
        #expect(try ledger.verify().rules == [.init(rule: .v2, from: 1, through: 6)])
    }
}
