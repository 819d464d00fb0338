import Foundation
import GRDB
import JobLedger
@testable import JobLedgerProjections
import JobLedgerSQLite
import Testing

/// `replay --into` writes each effect as the replay plans it (it held them all in memory until
/// the end: 257 MB for 300,000 events, now 103 MB): more effects than one chunk, the jobs at the
/// end, and nothing left behind by a writer given up.
@Suite struct ReplayScratchWriterTests {
    @Test func effectsOverSeveralChunksAndTheJobsEndUpInTheFile() async throws {
        let f = try Fixture()
        let jobs = (0..<(ReplayScratchWriter.chunk / 2 + 10)).map { _ in JobID.generate() }
        _ = try await f.ledger.append(jobs.map { NewEvent(job: $0, payload: .queued(.init(kind: "design"))) })
        _ = try await f.ledger.append(jobs.map { NewEvent(job: $0, payload: .canceled(.init(reason: "r"))) })
        let path = f.dir.path("scratch.sqlite")
        let writer = try ReplayScratchWriter(path: path)
        #expect(!FileManager.default.fileExists(atPath: path))  // only under its staging name until finished
        var fold = ReplayFold(effects: [BroadcastProjection(sink: BroadcastHub())])
        var seqs: [Int64] = []
        _ = try f.ledger.replay(into: &fold, effect: { e in
            seqs.append(e.seq)
            try? writer.add(e)
        })
        #expect(seqs.count == 2 * jobs.count && seqs.count > ReplayScratchWriter.chunk)
        try writer.finish(rows: Array(fold.rows.values))
        let q = try DatabaseQueue(path: path)
        let stored = try await q.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM effects ORDER BY rowid") }
        #expect(stored == seqs)
        #expect(try await q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE state = 'canceled'") } == jobs.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path(".")).filter { $0.contains("partial") }.isEmpty)
    }

    @Test func aWriterGivenUpLeavesNothingAndThePathCanBeWrittenAgain() async throws {
        let f = try Fixture()
        let path = f.dir.path("scratch.sqlite")
        do {
            let writer = try ReplayScratchWriter(path: path)
            #expect(FileManager.default.fileExists(atPath: StagedFile.stagingPath(for: path)))
            _ = writer  // dropped unfinished: abandoned
        }
        #expect(!FileManager.default.fileExists(atPath: StagedFile.stagingPath(for: path)))
        #expect(!FileManager.default.fileExists(atPath: path))
        let again = try ReplayScratchWriter(path: path)
        try again.finish(rows: [])
        #expect(FileManager.default.fileExists(atPath: path))
        // An existing file is refused, and kept.
        #expect(throws: LedgerError.self) { try ReplayScratchWriter(path: path) }
        #expect(FileManager.default.fileExists(atPath: path))
    }
}
