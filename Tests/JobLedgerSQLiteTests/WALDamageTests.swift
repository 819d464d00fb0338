import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// A damaged frame in a log's `-wal`: SQLite stops reading the `-wal` there and drops the
/// transactions committed after it without a word. `verify` said ok (of fewer events) and
/// `digest` printed a head to keep. Now the file check names the damage.
@Suite struct WALDamageTests {
    let dir = TempDir()

    /// A log whose 12 events are all still in its `-wal` (each append a transaction of its own),
    /// copied with its `-wal` (and no `-shm`) into `folder`, as evidence is copied.
    func copiedLog(_ folder: String) async throws -> String {
        let writer = try Ledger.open(path: dir.path("live.sqlite"))
        for j in 0..<2 {
            for e in lifecycle(jid("job-\(j)")) { _ = try await writer.append(e) }
        }
        try FileManager.default.createDirectory(atPath: dir.path(folder), withIntermediateDirectories: true)
        let copy = dir.path(folder) + "/log.sqlite"
        try FileManager.default.copyItem(atPath: writer.path, toPath: copy)
        try FileManager.default.copyItem(atPath: writer.path + "-wal", toPath: copy + "-wal")
        return copy
    }

    @Test func anIntactWALVerifies() async throws {
        let copy = try await copiedLog("intact")
        #expect(WALFrames.damage(path: copy + "-wal") == nil)
        let report = try Ledger.openReadOnly(path: copy).verify()
        #expect(report.isValid && report.events == 12)
    }

    @Test func aFlippedByteInAFrameBeforeLaterCommitsIsNamed() async throws {
        let copy = try await copiedLog("damaged")
        var wal = try Data(contentsOf: URL(fileURLWithPath: copy + "-wal"))
        let pageSize = Int(WALFrames.word([UInt8](wal), 8, bigEndian: true))
        let frames = (wal.count - 32) / (24 + pageSize)
        #expect(frames > 12)
        // A byte in the page of the sixth frame from the end: the last appends commit after it.
        let hit = frames - 6
        wal[32 + hit * (24 + pageSize) + 24 + 100] ^= 0xFF
        try wal.write(to: URL(fileURLWithPath: copy + "-wal"))
        let damage = try #require(WALFrames.damage(path: copy + "-wal"))
        #expect(damage.frame == hit && damage.frames == frames && damage.droppedCommits > 0)
        // SQLite, reading the copy, stops there: fewer events than were committed.
        #expect(try Ledger.openReadOnly(path: copy).eventCount() < 12)
        let error = #expect(throws: LedgerError.self) { try Ledger.openReadOnly(path: copy).verify() }
        guard case .storage(let message)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(message.contains("is damaged") && message.contains("committed transaction") && message.contains("from a damaged frame (frame \(hit + 1) of \(frames)) on"), "\(message)")
    }
}
