import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// Every branch of `verify`'s report, each reached by the edit that should reach it.
@Suite struct VerifyReportTests {
    func rows(_ dir: TempDir) async throws -> [RawEvent] {
        let ledger = try Ledger.open(path: dir.path("source-\(UUID().uuidString).sqlite"))
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued, idempotencyKey: "submit-a"))
        _ = try await ledger.append(Array(lifecycle(jid("a")).dropFirst()))
        var rows: [RawEvent] = []
        try ledger.forEachRawEvent { rows.append($0) }
        return rows
    }

    /// Edits row 3 (a progress event) without recomputing its hash.
    static let edits: [(String, @Sendable (inout RawEvent) -> Void, String)] = [
        ("type", { $0.type = "lowres" }, "job, version, type, time or idempotency key changed"),
        ("recorded_at", { $0.recordedAt = $0.recordedAt.adding(milliseconds: 1) }, "job, version, type, time or idempotency key changed"),
        ("job_id", { $0.jobID = "b" }, "job, version, type, time or idempotency key changed"),
        ("idempotency_key", { $0.idempotencyKey = "retry-3" }, "job, version, type, time or idempotency key changed"),
        ("prev_hash", { $0.prevHash = String(repeating: "f", count: 64) }, "prev_hash does not match the hash of seq 2"),
        ("payload", { $0.payload = $0.payload.replacingOccurrences(of: "step", with: "STEP") }, "payload changed after it was recorded"),
        // The digest column itself: it was blamed on the payload, quoting two equal prefixes.
        ("payload_digest", { $0.payloadDigest = String($0.payloadDigest.dropLast()) + ($0.payloadDigest.hasSuffix("0") ? "1" : "0") },
         "payload_digest changed after it was recorded: the payload's SHA-256 is "),
        ("payload_digest", { $0.payloadDigest = "`" + String($0.payloadDigest.dropFirst()) }, "payload_digest is not a SHA-256 in lowercase hex"),
    ]

    @Test(arguments: 0..<8)
    func anEditedColumnFailsAtItsRow(_ index: Int) async throws {
        let dir = TempDir()
        var rows = try await rows(dir)
        let (column, edit, says) = Self.edits[index]
        edit(&rows[2])
        let report = try forgedLog(rows, in: dir).verify()
        #expect(report.problem?.seq == 3, "\(column): \(String(describing: report.problem))")
        #expect(report.problem?.message.contains(says) == true, "\(column): \(String(describing: report.problem))")
    }

    @Test func anUndecodableEventWithAConsistentChainIsNamed() async throws {
        let dir = TempDir()
        var rows = try await rows(dir)
        rows[2].payload = #"{"attempt":1,"fraction":0.5,"percent":50}"#
        rows[2].payloadDigest = Digest.sha256Hex(rows[2].payload)
        let report = try forgedLog(try rechained(rows), in: dir).verify()
        #expect(report.problem?.seq == 3)
        #expect(report.problem?.message.contains("not a valid event") == true, "\(String(describing: report.problem))")
    }

    /// A job's stored versions that skip (an event put in behind the log's back) are refused
    /// by both folds a write starts from (`foldJob`, and `states(of:)`, which the engine reads
    /// the jobs it claims with): they counted versions themselves, and a write then followed
    /// the stored ones with a version the job had already had.
    @Test func bothWriterFoldsRefuseAVersionThatSkips() async throws {
        let dir = TempDir()
        var rows = try await rows(dir)
        rows[2].version = 7
        let ledger = try forgedLog(rows, in: dir)
        let job = try JobID(rows[0].jobID)
        for fold in ["foldJob", "states"] {
            do {
                _ = try await ledger.pool.read { db in
                    fold == "foldJob" ? try Ledger.foldJob(db, job: job, from: nil) : try Ledger.states(db, of: [job])[job]
                }
                Issue.record("\(fold) folded a version that skips")
            } catch let gap as VersionGap {
                // Versions 1, 2, 4, 5, 6, 7 in order: the one after 2 is 4.
                #expect(gap.description == "job \(job): an event at version 4 where version 3 comes next", "\(fold)")
            }
        }
    }

    @Test func aRowBeforeSeqOneIsOneNoAppendGives() async throws {
        let dir = TempDir()
        var rows = try await rows(dir)
        rows[0].seq = 0  // INTEGER PRIMARY KEY takes 0 and negatives; the chain starts at 1
        let report = try forgedLog(rows, in: dir).verify()
        #expect(report.problem?.seq == 0)
        #expect(report.problem?.message == "seq 0 is not one an append gives (seqs start at 1): the row was put in by hand", "\(String(describing: report.problem))")
    }

    @Test func anIntactLogReportsItsRuleRanges() async throws {
        let dir = TempDir()
        let report = try forgedLog(try await rows(dir), in: dir).verify()
        #expect(report.isValid && report.events == 6 && report.jobs == 1)
        #expect(report.rules == [.init(rule: .v2, from: 1, through: 6)])
    }
}
