import Foundation
import GRDB
import JobLedger
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

@Suite struct MigrationTests {
    /// A log written under schema v1 (whose CHECK forbade a later 'queued') is upgraded in
    /// place: every row kept as it was, the chain intact, the guards back, and requeues allowed.
    @Test func aV1LogIsUpgradedAndKeepsItsChain() async throws {
        let dir = TempDir()
        // Rows of a real log, written by the current code…
        let source = try Ledger.open(path: dir.path("source.sqlite"))
        _ = try await source.append(lifecycle(jid("a")))
        _ = try await source.append([NewEvent(job: jid("b"), payload: queued), NewEvent(job: jid("b"), payload: started()),
                                     NewEvent(job: jid("b"), payload: .failed(.init(code: "x", message: "", retryable: false, attempt: 1)))])
        let head = try #require(try source.head())
        var rows: [RawEvent] = []
        try source.forEachRawEvent { rows.append($0) }
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
        #expect(triggers == ["events_no_delete", "events_no_update"])
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
        let source = try Ledger.open(path: dir.path("source.sqlite"))
        _ = try await source.append(lifecycle(jid("a")))
        var rows: [RawEvent] = []
        try source.forEachRawEvent { rows.append($0) }
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
}
