import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Checkpoints a ledger's WAL mostly off its writer (see `WALCheckpointPolicy` for when): a
/// WAL hook on the writer connection, which replaces SQLite's auto-checkpoint, and a serial
/// queue that runs the background checkpoints on a short-lived connection of their own.
/// Passive checkpoints only: they never wait for, or block, a reader or the writer. A failed
/// background checkpoint is simply tried again a thousand frames later; the writer's own
/// checkpoint keeps the WAL bounded whatever happens to them.
package final class WALCheckpointer: Sendable {
    private let path: String
    /// The ledger's `synchronous` setting, for the checkpoint connection: a checkpoint syncs the
    /// WAL before copying from it and the database after, as the writer's would.
    private let synchronous: String
    private let policy = Mutex(WALCheckpointPolicy())
    private let counts = Mutex((background: 0, writer: 0))
    /// One queue for every ledger of the process: checkpoints are rare, and never urgent.
    private static let queue = DispatchQueue(label: "jobledger.wal-checkpoint", qos: .utility)

    init(path: String, synchronous: String) {
        self.path = path
        self.synchronous = synchronous
    }

    /// Background and writer checkpoints started so far (for tests).
    package var checkpoints: (background: Int, writer: Int) { counts.withLock { $0 } }

    /// Returns once the background checkpoints started so far have ended (for tests).
    func waitForBackground() { Self.queue.sync {} }

    /// Installs the WAL hook on the writer connection. The hook holds this checkpointer weakly
    /// through a small box that lives as long as the process (SQLite offers no moment at which
    /// it would be safe to free it): once the ledger is gone, the hook does nothing.
    func install(on db: Database) {
        let box = Unmanaged.passRetained(WeakCheckpointer(self)).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, connection, _, frames in
            guard let context, let connection else { return SQLITE_OK }
            Unmanaged<WeakCheckpointer>.fromOpaque(context).takeUnretainedValue().target?.committed(connection, walFrames: frames)
            return SQLITE_OK
        }, box)
    }

    /// Called by the hook after each commit of the writer connection, on its thread.
    private func committed(_ connection: OpaquePointer, walFrames: Int32) {
        switch policy.withLock({ $0.committed(walFrames: walFrames) }) {
        case .none:
            break
        case .writer:
            counts.withLock { $0.writer += 1 }
            _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        case .background:
            counts.withLock { $0.background += 1 }
            Self.queue.async { self.checkpointInBackground() }
        }
    }

    private func checkpointInBackground() {
        defer { policy.withLock { $0.backgroundFinished() } }
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { return }
        guard sqlite3_exec(db, "PRAGMA synchronous = \(synchronous)", nil, nil, nil) == SQLITE_OK else { return }
        _ = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    }
}

/// What the WAL hook's context points to.
private final class WeakCheckpointer: Sendable {
    weak let target: WALCheckpointer?
    init(_ target: WALCheckpointer) { self.target = target }
}
