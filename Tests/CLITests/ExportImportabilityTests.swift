import Foundation
import JobLedger
@testable import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// `export` verifies the log after writing it and exits 1 when the export would not import, so
/// that a backup that cannot be restored is known when it is made (EventLog.md § Export). It
/// exited 0, silently, on logs that verify but whose export `import` refuses: a payload stored
/// in another form than jobledger writes, a time outside what an export carries; and on a log
/// whose integrity rules were removed, which `verify` fails.
@Suite struct ExportImportabilityTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    /// A log of one queued job, then a second `queued` event chained onto it by hand (as another
    /// program would write it), with `payload` as its text and `recordedAt` as its time.
    func logWithAHandWrittenEvent(payload: String, recordedAt: Int64) async throws {
        let ledger = try Ledger.open(path: db)
        _ = try await ledger.append(NewEvent(job: try JobID("own-1"), payload: .queued(.init(kind: "design"))))
        let head = try #require(try ledger.head())
        try ledger.close()
        let digest = Digest.sha256Hex(payload)
        let hash = Digest.eventHash(rule: .v2, prevHash: head.hash, seq: head.seq + 1, job: try JobID("late-1"), version: 1, type: .queued,
                                    recordedAt: Timestamp(milliseconds: recordedAt), payloadDigest: digest, idempotencyKey: nil)
        try rawSQL(db, """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, payload_digest, prev_hash, hash)
            VALUES (\(head.seq + 1), 'late-1', 1, 'queued', '\(payload)', \(recordedAt), '\(digest)', '\(head.hash)', '\(hash)')
            """)
    }

    /// Exports the log; checks it exits 1 saying `says`, with every event written, and that
    /// an import of what it wrote is refused.
    func expectUnimportableExport(says: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        let r = try await jobledger(["export", "--db", db, "--output", "backup.ndjson"], in: scratch)
        #expect(r.status == 1 && r.stderr.contains(says) && r.stderr.contains("the export holds every event as stored"), "\(r)\nverify: \(verify)",
                sourceLocation: sourceLocation)
        let restore = try await jobledger(["import", "--db", "restored.sqlite", "backup.ndjson"], in: scratch)
        #expect(restore.status == 2, "the export is refused by import: \(restore)", sourceLocation: sourceLocation)
    }

    @Test func aPayloadNotStoredAsJobledgerWritesIt() async throws {
        try await logWithAHandWrittenEvent(payload: #"{"kind":"design", "input":{}}"#, recordedAt: 1_800_000_000_000)
        try await expectUnimportableExport(says: "1 payload of the log is not stored as jobledger writes them (canonical JSON), the first at seq 2")
    }

    @Test func aTimeOutsideWhatAnExportCarries() async throws {
        try await logWithAHandWrittenEvent(payload: #"{"input":{},"kind":"design","max_attempts":3,"priority":0}"#, recordedAt: 300_000_000_000_000)
        try await expectUnimportableExport(says: "the event at seq 2 was recorded at a time outside 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z")
    }

    @Test func aLogWhoseIntegrityRulesWereRemoved() async throws {
        let ledger = try Ledger.open(path: db)
        _ = try await ledger.append(NewEvent(job: try JobID("own-1"), payload: .queued(.init(kind: "design"))))
        try ledger.close()
        try rawSQL(db, "DROP TRIGGER events_no_update")
        let r = try await jobledger(["export", "--db", db], in: scratch)
        #expect(r.status == 1 && r.stdout.split(separator: "\n").count == 1
                && r.stderr.contains("the log does not verify: FAILED: the log's integrity rules were removed"), "\(r)")
    }

    /// Appends refuse such a time, so that a log never holds what its export cannot carry.
    @Test func anAppendRecordedOutsideThoseTimesIsRefused() async throws {
        let ledger = try Ledger.open(path: db)
        for at: Int64 in [-1, 253_402_300_800_000] {
            do {
                _ = try await ledger.append(NewEvent(job: try JobID("j"), payload: .queued(.init(kind: "design")), recordedAt: Timestamp(milliseconds: at)))
                Issue.record("recorded at \(at) ms was taken")
            } catch {
                #expect("\(error)".contains("recorded_at \(at) ms is outside 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z"), "\(error)")
            }
        }
        _ = try await ledger.append(NewEvent(job: try JobID("j"), payload: .queued(.init(kind: "design")), recordedAt: Timestamp(milliseconds: 253_402_300_799_999)))
        #expect(try ledger.head()?.seq == 1)
    }
}
