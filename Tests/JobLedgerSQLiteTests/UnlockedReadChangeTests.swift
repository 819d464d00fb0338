import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// A read without locks (no `-wal` beside the file when it was opened) of a file a writer then
/// writes: what it reads may mix two states, and SQLite may call that "malformed". That is a
/// failed read, never a damaged log; and a read with locks is not disturbed by writers at all.
@Suite(.timeLimit(.minutes(2)))
struct UnlockedReadChangeTests {
    let dir = TempDir()

    func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path("")).sorted() }
    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// A checkpointed log of `jobs` finished jobs, the main file alone (no -wal, no -shm).
    func closedLog(_ name: String, jobs: Int = 20) async throws -> String {
        let path = dir.path(name)
        let ledger = try Ledger.open(path: path)
        for j in 0..<jobs { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        try ledger.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the last connection removed the -wal")
        // Written long ago, so that a write now changes the modification time.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_600_000_000)], ofItemAtPath: path)
        return path
    }

    /// Overwrites the first byte (the b-tree page type) of the events table's root page, as a
    /// page torn by a write under the reader would read: SQLite says "malformed".
    func tearEventsRootPage(_ path: String) throws {
        // Read without locks, as nothing else is: no -wal or -shm is made beside the file.
        let (root, pageSize) = try Ledger.openReadOnly(path: path).read { db in
            (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'events'")!,
             try Int.fetchOne(db, sql: "PRAGMA page_size")!)
        }
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64((root - 1) * pageSize))
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
    }

    /// Also through a symlink: the file compared is the log's, not the link (whose size and
    /// time never change, so the change went unseen and the torn read was called damage).
    @Test(arguments: [false, true])
    func aMalformedPageReadAfterTheFileChangedIsAFailedReadNotDamage(throughSymlink: Bool) async throws {
        let file = try await closedLog("log.sqlite")
        var path = file
        if throughSymlink {
            path = dir.path("link.sqlite")
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: file)
        }
        let ro = try Ledger.openReadOnly(path: path)
        #expect(ro.readsWithoutLocks)
        // A writer writes the file between the open and the read (here: a torn page).
        try tearEventsRootPage(file)
        let error = await expectLedgerError { try ro.forEachRawEvent { _ in } }
        #expect(error == .writtenWhileReadWithoutLocks(path: path), "got \(String(describing: error))")
        #expect(error?.description.contains("is damaged") == false)

        // The same page read by a ledger opened after it was torn: the file did not change
        // under that read, so it is damage.
        let opened = try Ledger.openReadOnly(path: path)
        let damaged = await expectLedgerError { try opened.forEachRawEvent { _ in } }
        guard case .storage(let message)? = damaged else { Issue.record("got \(String(describing: damaged))"); return }
        #expect(message.contains("is damaged"), "\(message)")
    }

    @Test func aReadWithLocksSeesItsSnapshotWhileAWriterComesAndGoesAndLeavesNothingBehind() async throws {
        let path = try await closedLog("log.sqlite")
        // 30 new jobs, as an export, for a writer to import in the middle of the read.
        let source = try Ledger.open(path: dir.path("source.sqlite"))
        for j in 0..<30 { _ = try await source.append(NewEvent(job: jid("late-\(j)"), payload: queued)) }
        var late: [String] = []
        try source.exportNDJSON { late.append($0) }
        func logFiles() throws -> [String] { try listing().filter { $0.hasPrefix("log.sqlite") } }

        let total: Int
        do {
            let ro = try Ledger.openReadOnly(path: path, withLocks: true)
            #expect(!ro.readsWithoutLocks)
            total = try ro.eventCount()
            let before = try ro.head()
            var count = 0
            try ro.forEachRawEvent { _ in
                if count == 0 {
                    // A short-lived writer, started and gone in the middle of the read.
                    let writer = try Ledger.open(path: path)
                    #expect(try writer.importNDJSON(late).events == 30)
                }
                count += 1
            }
            #expect(count == total, "the read's snapshot: the events as they were when it began")
            #expect(try ro.verify().isValid)
            #expect(try ro.head() != before, "a later read sees the writer's events")
        }
        // Released, the reader's -wal and -shm are gone, and what the writer left in the -wal
        // (it could not checkpoint while the reader was open) is in the main file.
        #expect(try logFiles() == ["log.sqlite"])
        #expect(try Ledger.openReadOnly(path: path).eventCount() == total + 30)
    }

    @Test func aReadWithLocksOfALogNoOneHasOpenLeavesItAsItWas() async throws {
        let path = try await closedLog("log.sqlite")
        let before = try bytes(path)
        do {
            let ro = try Ledger.openReadOnly(path: path, withLocks: true)
            #expect(try ro.verify().isValid)
            var lines = 0
            try ro.exportNDJSON { _ in lines += 1 }
            #expect(lines == (try ro.eventCount()))
        }
        #expect(try listing().filter { $0.hasPrefix("log.sqlite") } == ["log.sqlite"], "no -wal or -shm left beside it")
        #expect(try bytes(path) == before, "not a byte of the file changed")
    }
}
