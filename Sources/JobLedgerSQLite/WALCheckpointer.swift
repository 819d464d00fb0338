import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Checkpoints a ledger's WAL mostly off its writer (see `WALCheckpointPolicy` for when): a
/// WAL hook on the writer connection, which replaces SQLite's auto-checkpoint, and a serial
/// queue of the ledger's own that runs the background checkpoints on a short-lived connection.
/// Passive checkpoints only: they never wait for, or block, a reader or the writer. A failed
/// background checkpoint is simply tried again a thousand frames later; the writer's own
/// checkpoints keep the WAL bounded whatever happens to them.
package final class WALCheckpointer: Sendable {
    private struct State {
        var policy = WALCheckpointPolicy()
        var background = 0
        var writer = 0
        /// The file the ledger has open, once it is installed.
        var file: FileNode?
        /// The ledger is going: no more background checkpoints.
        var closed = false
        var clockOffset: Int64 = 0
    }

    private let path: String
    /// The ledger's `synchronous` setting, for the checkpoint connection: a checkpoint syncs the
    /// WAL before copying from it and the database after, as the writer's would.
    private let synchronous: String
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "jobledger.wal-checkpoint", qos: .utility)

    init(path: String, synchronous: String) {
        self.path = path
        self.synchronous = synchronous
    }

    /// Background and writer checkpoints started so far (for tests and benchmarks).
    package var checkpoints: (background: Int, writer: Int) { state.withLock { ($0.background, $0.writer) } }

    /// Returns once the background checkpoints started so far have ended (for tests).
    func waitForBackground() { queue.sync {} }

    /// Installs the WAL hook on the writer connection. The hook holds this checkpointer weakly
    /// through a small box that lives as long as the process (SQLite offers no moment at which
    /// it would be safe to free it). Should the connection outlive the ledger and commit again,
    /// the hook checkpoints on it as SQLite's own auto-checkpoint would.
    func install(on db: Database) {
        state.withLock { $0.file = FileNode(path: path) }
        let box = Unmanaged.passRetained(WeakCheckpointer(self)).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, connection, _, frames in
            guard let context, let connection else { return SQLITE_OK }
            if let checkpointer = Unmanaged<WeakCheckpointer>.fromOpaque(context).takeUnretainedValue().target {
                checkpointer.committed(connection, walFrames: frames)
            } else if frames >= WALCheckpointPolicy.every {
                _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK
        }, box)
    }

    /// Starts no background checkpoint any more, and returns once the one under way (if any)
    /// has ended: the ledger calls it as it goes, before its own connections close, so that
    /// the last connection to close is the ledger's (which checkpoints and removes the WAL).
    func close() {
        state.withLock { $0.closed = true }
        queue.sync {}
    }

    /// Called by the hook after each commit of the writer connection, on its thread.
    private func committed(_ connection: OpaquePointer, walFrames: Int32) {
        let action = state.withLock { s -> WALCheckpointPolicy.Action in
            let action = s.policy.committed(walFrames: walFrames, now: Self.milliseconds() + s.clockOffset)
            switch action {
            case .none: break
            case .background: s.background += 1
            case .writer: s.writer += 1
            }
            return action
        }
        switch action {
        case .none:
            break
        case .writer:
            let copied = Self.checkpoint(connection)
            state.withLock { $0.policy.writerFinished(copied: copied) }
        case .background:
            queue.async { self.checkpointInBackground() }
        }
    }

    private func checkpointInBackground() {
        var copied: Int32?
        defer { state.withLock { $0.policy.backgroundFinished(copied: copied) } }
        // Only into the file the ledger has open: were it moved away and another file put at
        // its path, that file is not this log.
        guard let file = state.withLock({ $0.closed ? nil : $0.file }), FileNode(path: path) == file else { return }
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(SQLiteURI.literal(path), &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else { return }
        // A new connection opens the WAL with its first read; without one, the checkpoint
        // would find no WAL and copy nothing. Reading the schema is that read.
        guard sqlite3_exec(db, "PRAGMA synchronous = \(synchronous); SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK
        else { return }
        copied = Self.checkpoint(db)
    }

    /// A passive checkpoint on `connection`: the frames of the WAL copied into the database
    /// file once it has run (those copied before included); nil when it failed.
    private static func checkpoint(_ connection: OpaquePointer) -> Int32? {
        var frames: Int32 = -1, copied: Int32 = -1
        let rc = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied)
        return rc == SQLITE_OK && copied >= 0 ? copied : nil
    }

    /// Milliseconds since the process started, on the monotonic clock.
    private static func milliseconds() -> Int64 {
        let c = (ContinuousClock.now - epoch).components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }

    private static let epoch = ContinuousClock.now

    /// Moves this checkpointer's clock on (tests: a second passes without waiting for it).
    package func advanceClock(milliseconds: Int64) {
        state.withLock { $0.clockOffset += milliseconds }
    }
}

/// What the WAL hook's context points to.
private final class WeakCheckpointer: Sendable {
    weak let target: WALCheckpointer?
    init(_ target: WALCheckpointer) { self.target = target }
}
