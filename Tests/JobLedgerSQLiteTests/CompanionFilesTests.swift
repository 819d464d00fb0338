import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The `-wal` or `-shm` of a live log deleted behind its back: SQLite went on committing into
/// the deleted files, and the events were lost without a word when the process exited. The
/// check in each append transaction (and before each round of the engine's and the
/// projections' writes) now calls the log vanished, naming the file.
@Suite struct CompanionFilesTests {
    @Test(arguments: ["-wal", "-shm"])
    func aDeletedCompanionFileIsAVanishedLog(_ suffix: String) async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: .queued(.init(kind: "design"))))
        try ledger.checkFileIsThere()
        #expect(FileManager.default.fileExists(atPath: path + suffix))
        try FileManager.default.removeItem(atPath: path + suffix)
        #expect(ledger.companions!.changed(force: true) == suffix)
        // The append transaction looks itself (at most every `CompanionFiles.interval`, and
        // first at the first append): it refuses rather than commit into the deleted file.
        let fresh = try Ledger.open(path: dir.path("other.sqlite"))
        #expect(FileManager.default.fileExists(atPath: dir.path("other.sqlite") + suffix))
        try FileManager.default.removeItem(atPath: dir.path("other.sqlite") + suffix)
        do {
            _ = try await fresh.append(NewEvent(job: jid("b"), payload: .queued(.init(kind: "design"))))
            Issue.record("an append went into a log whose \(suffix) was deleted")
        } catch {
            let fault = try #require(error.storageFault)
            #expect(fault.kind == .vanished)
            #expect(fault.detail.hasPrefix("its \(suffix) file was deleted or replaced"), "\(fault)")
            #expect(fault.description.contains("stop every process using the log"), "\(fault)")
        }
    }

    @Test func anUntouchedLogPassesTheCheck() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        for i in 0..<3 { _ = try await ledger.append(NewEvent(job: jid("j\(i)"), payload: .queued(.init(kind: "design")))) }
        try ledger.checkFileIsThere()
        #expect(ledger.companions!.changed(force: true) == nil)
        // Another connection checkpoints and truncates the WAL, and closes: same files.
        let other = try rawQueue(dir.path("log.sqlite"))
        try await other.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try other.close()
        #expect(ledger.companions!.changed(force: true) == nil, "a checkpoint and another connection's close keep the same files")
        _ = try await ledger.append(NewEvent(job: jid("j3"), payload: .queued(.init(kind: "design"))))
        try ledger.checkFileIsThere()
    }
}
