import Foundation
import GRDB

extension Ledger {
    /// The bytes a write probe asks room for: a few pages, as a job's `queued` event with a
    /// sizeable input takes.
    package static let writeProbeBytes = 16 * 1024

    /// Tries a write that grows the log, and keeps nothing of it: in one transaction, a row of
    /// `writeProbeBytes` zero bytes is staged into `assets` under a key no SHA-256 can be (not
    /// hex) and removed again, so the transaction needs new pages (and WAL frames for them) as
    /// an append does, and commits no change a reader can see. Throws the storage fault when the
    /// disk (or `max_page_count`) has no room, the file is read-only, gone from its path (as
    /// `checkFileIsThere`) or fails with an I/O error.
    ///
    /// How a process that writes nothing of its own (`serve --workers 0`, which only writes when
    /// a client asks) finds out that a storage fault has cleared.
    package func probeWrite() async throws(LedgerError) {
        try checkFileIsThere()
        let key = "jobledger-write-probe-" + String(repeating: "-", count: 64 - 22)
        do {
            try await gatedWrite { db in
                try db.execute(sql: """
                    INSERT INTO assets (sha256, size, content_type, bytes, staged_at) VALUES (?, ?, 'application/octet-stream', zeroblob(?), 0)
                    ON CONFLICT (sha256) DO NOTHING
                    """, arguments: [key, Self.writeProbeBytes, Self.writeProbeBytes])
                try db.execute(sql: "DELETE FROM assets WHERE sha256 = ?", arguments: [key])
            }
        } catch { throw map(error) }
    }
}

extension Ledger {
    /// Copies everything in the WAL into the file and empties the WAL (`wal_checkpoint(TRUNCATE)`):
    /// after it the file alone is the whole log, whatever connection is still open. What `import`
    /// does before it gives a new log its name (a link to the file alone).
    package func foldWAL() throws(LedgerError) {
        // The background checkpoint's connection and idle readers hold the WAL: let them go.
        checkpointer?.waitForBackground()
        guard use.enter() else { throw .closed(path: path) }
        defer { use.leave() }
        pool.releaseMemory()
        do {
            for attempt in 0..<50 {
                let busy = try pool.writeWithoutTransaction { db in
                    // busy = 1: another connection kept the WAL from being folded in whole.
                    (try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")?[0] as Int?) ?? 0
                }
                if busy == 0 { return }
                if attempt < 49 { usleep(20_000) }
            }
            throw LedgerError.storage("the WAL of \(path) could not be folded into the file: another connection holds it")
        } catch let e as LedgerError { throw e } catch { throw map(error) }
    }
}
