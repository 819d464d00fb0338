import Foundation
import GRDBSQLite

/// Closing a log as its last connection does, so that SQLite removes its `-wal` and `-shm`.
///
/// A read-only ledger that reads a log with locks although no `-wal` lay beside it (see
/// `Ledger.openReadOnly(path:configuration:withLocks:)`) makes SQLite create a `-wal` and a
/// `-shm` to read through, and a read-only connection leaves them behind. And GRDB closes a
/// pool's writer before its readers (`Ledger.close()`), so the writer is never the last
/// connection either. In both cases, once the ledger's connections are closed, a connection
/// that may write opens the file, reads, and closes: when it is the last connection to the
/// log, SQLite checkpoints the `-wal` into the file and removes both; when another connection
/// (a writer in another process) still has the log open, they are that connection's, and stay.
/// Nothing here unlinks a file itself.
enum LockedRead {
    /// Whether a reader may create files in the folder of `path` (false on read-only media, or
    /// without permission): only then is there a choice of reading with locks.
    static func folderIsWritable(_ path: String) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent
        return access(folder.isEmpty ? "." : folder, W_OK) == 0
    }

    /// Closes the log as its last connection would, so that SQLite removes the `-wal` and `-shm`
    /// a locked read created; does nothing when the file cannot be opened for writing.
    static func closeAsLastConnection(path: String) {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(SQLiteURI.literal(path), &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { return }
        // The first read opens the WAL; without one, closing would find none to remove.
        _ = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nil, nil, nil)
    }
}
