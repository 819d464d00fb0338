import Foundation
import GRDB

/// Opening a log only to read it (`Docs/EventLog.md` § Reading a log): without locks when no
/// `-wal` lies beside the file, with the writer's `-wal` when there is one, or with locks on
/// request (`withLocks`).
extension Ledger {
    /// Opens an existing log only to read it: nothing is ever written to the file or beside
    /// it. No migration (an older schema is read as it is; projection tables it lacks read as
    /// empty), no switch to WAL, no pragma on a writer. Appends and every other write fail
    /// with `LedgerError.readOnly`. What inspection (`verify`, `export`, `history` …) uses, so
    /// that it works on a read-only copy of a log and never changes the file under an older
    /// jobledger still running on it.
    ///
    /// How it reads depends on what lies beside the file (`Docs/EventLog.md` § Reading a log):
    /// - no `-wal` (a copy, or a log no process has open): the file is read as immutable,
    ///   without locks and without creating `-wal` or `-shm`. Should a writer start meanwhile
    ///   and checkpoint into the file, the next read fails with
    ///   `LedgerError.writtenWhileReadWithoutLocks` (open it again, with locks, and read again)
    ///   instead of returning a mix of two states.
    /// - a `-wal` (a live writer, or one that crashed): a read-only connection that uses the
    ///   existing `-wal` and `-shm`, sees every committed event, and never checkpoints.
    ///
    /// ```swift
    /// let evidence = try Ledger.openReadOnly(path: "incident-copy.sqlite")
    /// print(try evidence.verify())
    /// ```
    public static func openReadOnly(path: String, configuration: LedgerConfiguration = LedgerConfiguration()) throws(LedgerError) -> Ledger {
        try checkOpening(path: path, configuration: configuration)
        return try openReadOnly(path: path, configuration: configuration, create: false)
    }

    /// `openReadOnly`, reading with locks also when no `-wal` lies beside the file, as long as its
    /// folder is writable (on read-only media it reads without locks, as `openReadOnly` does):
    /// a writer that starts meanwhile then cannot checkpoint under the read, so the read never
    /// fails with `LedgerError.writtenWhileReadWithoutLocks`. SQLite creates a `-wal` and a
    /// `-shm` to read through; when the ledger is released they are removed again, unless a
    /// writer still has the log open (see `LockedRead`). What a command uses whose output
    /// cannot be taken back (an export to stdout), or a second try after a read without locks
    /// failed that way.
    package static func openReadOnly(path: String, configuration: LedgerConfiguration = LedgerConfiguration(),
                                     withLocks: Bool) throws(LedgerError) -> Ledger {
        try checkOpening(path: path, configuration: configuration)
        return try openReadOnly(path: path, configuration: configuration, create: false, withLocks: withLocks)
    }

    /// `openReadOnly`; with `create: true` (a probe before opening for writing) an SQLite
    /// database without objects is accepted as a log to be.
    static func openReadOnly(path: String, configuration: LedgerConfiguration, create: Bool,
                             withLocks: Bool = false) throws(LedgerError) -> Ledger {
        // The file's identity is taken before looking for a -wal: a writer that starts in
        // between is then seen either way.
        try checkPathResolves(path: path)
        let identity = FileIdentity(path: path)
        // SQLite keeps a symlinked log's -wal and -shm beside the link's target.
        let companions = resolvingSymlink(path)
        guard identity != nil || FileManager.default.fileExists(atPath: path) else { throw .noSuchLog(path: path) }
        try checkIsFileOrFolder(path: path)
        guard (fileSize(path) ?? 0) > 0 else { throw .notALedger(path: path, detail: "the file is empty") }
        try checkHeader(path: path)
        let wal = fileSize(companions + "-wal")
        // A -wal with content holds committed events; a -wal and a -shm together may belong to
        // a live writer. Either way the file alone is not the log: read it with the WAL.
        // A -shm shorter than SQLite's first 32 KiB region was never a live writer's: what a
        // writer that found the disk full left behind (with an empty -wal). Read past it.
        let withWAL = (wal ?? 0) > 0 || (wal != nil && (fileSize(companions + "-shm") ?? 0) >= 32_768)
        let locksWithoutWAL = !withWAL && withLocks && LockedRead.folderIsWritable(companions)
        let unlocked = !withWAL && SQLiteURI.isSupported && !locksWithoutWAL
        // Noted before SQLite creates them: only what this ledger created is removed again.
        let createsCompanions = locksWithoutWAL && wal == nil && fileSize(companions + "-shm") == nil
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(seconds(configuration.busyTimeout))
        let pool: DatabasePool
        let found: Int
        var opened: DatabasePool?
        do {
            let p = try DatabasePool(path: SQLiteURI.isSupported ? SQLiteURI.readOnly(path: path, immutable: unlocked) : SQLiteURI.literal(path),
                                     configuration: config)
            opened = p
            found = try p.read { db in try schemaVersion(db, path: path, create: create) }
            pool = p
        } catch {
            if createsCompanions {
                try? opened?.close()
                LockedRead.closeAsLastConnection(path: path)
            }
            // Read without locks while a writer checkpointed: the file, not the log, changed.
            if unlocked, FileIdentity(path: path) != identity, error is DatabaseError {
                throw .writtenWhileReadWithoutLocks(path: path)
            }
            throw map(error, path: path, configuration: configuration)
        }
        return Ledger(path: path, configuration: configuration, pool: pool, schemaVersion: found, isReadOnly: true,
                      unlockedFile: unlocked ? identity : nil, removesCreatedCompanions: createsCompanions)
    }
}
