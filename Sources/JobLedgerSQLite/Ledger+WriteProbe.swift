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
