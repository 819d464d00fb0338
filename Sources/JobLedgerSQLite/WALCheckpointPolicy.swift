/// When the WAL is checkpointed, decided from how many frames it holds after each commit: a
/// value with no I/O and no locks of its own (`WALCheckpointer` keeps it in a `Mutex`).
///
/// SQLite's own auto-checkpoint copies the WAL back into the database on the committing
/// connection, so the writer stops for it (copying a thousand pages and two `fsync`s) every
/// thousand frames: about a tenth of a busy writer's time. Here the copying runs on a
/// connection of its own in the background instead, every `every` frames. Only a checkpoint
/// that finds nothing left to copy lets the next commit start the WAL again from its beginning,
/// and while appends keep coming a background one never does; so from `writerAt` frames on,
/// the writer checkpoints itself (every `every` frames until the WAL starts again), which
/// then has only the frames since the last background one to copy.
struct WALCheckpointPolicy: Equatable {
    /// Frames between two checkpoints (SQLite's default auto-checkpoint threshold).
    static let every: Int32 = 1000
    /// From this many frames in the WAL (32 MiB with 4 KiB pages) the writer checkpoints itself.
    static let writerAt: Int32 = 8000

    enum Action: Equatable {
        /// Nothing to do after this commit.
        case none
        /// Start a background checkpoint (then call `backgroundFinished()`).
        case background
        /// Checkpoint now, on the connection that committed.
        case writer
    }

    /// How long after the last checkpoint began a commit may start another because frames are
    /// left uncopied (see `copiedThrough`).
    static let retryBehindMilliseconds: Int64 = 1000
    /// The most the `-wal` file keeps once the WAL starts again from its beginning
    /// (`PRAGMA journal_size_limit`): a burst that made it hundreds of megabytes leaves no such
    /// file behind.
    static let sizeLimitBytes = 64 << 20

    /// A background checkpoint is under way.
    private(set) var running = false
    /// The WAL's frames when the last checkpoint was started.
    private(set) var startedAt: Int32 = 0
    /// When the last checkpoint was started (milliseconds on the caller's clock).
    private(set) var startedAtTime: Int64 = 0
    /// The frames of the WAL the last finished checkpoint left copied into the database file.
    /// The WAL starts again from its beginning only once every frame is copied, and the
    /// thousand-frame rule waits for a thousand more: an idle log (a lease renewal is a frame or
    /// two) never wrote them, so its WAL, and the `-wal` file, hundreds of megabytes after a
    /// catch-up in which readers on older snapshots kept checkpoints from copying everything,
    /// stayed that size until the process ended. From `writerAt` frames on, a commit that finds
    /// frames past these starts a background checkpoint, at most once a second.
    private(set) var copiedThrough: Int32 = 0

    init() {}

    /// A commit left `walFrames` frames in the WAL, at `now` (milliseconds).
    mutating func committed(walFrames n: Int32, now: Int64 = 0) -> Action {
        if n < startedAt { startedAt = 0; copiedThrough = 0 }  // the WAL was started again from its beginning
        if n >= startedAt + Self.every {
            startedAtTime = now
            // Past `writerAt` the writer tries even while a background checkpoint runs (a passive
            // checkpoint that finds another under way just returns): a slow disk under the
            // background one must not let the WAL grow without bound.
            if n >= Self.writerAt {
                startedAt = n
                return .writer
            }
            guard !running else { return .none }
            startedAt = n
            running = true
            return .background
        }
        // Frames left uncopied in a big WAL, and the next thousand may be long in coming.
        guard !running, n >= Self.writerAt, n > copiedThrough, now - startedAtTime >= Self.retryBehindMilliseconds else { return .none }
        startedAt = n
        startedAtTime = now
        running = true
        return .background
    }

    /// The background checkpoint has ended, with the WAL copied through frame `copied` (nil:
    /// it failed, or did not run).
    mutating func backgroundFinished(copied: Int32? = nil) {
        running = false
        if let copied { copiedThrough = copied }
    }

    /// The writer's own checkpoint has ended, with the WAL copied through frame `copied` (nil:
    /// it failed).
    mutating func writerFinished(copied: Int32?) {
        if let copied { copiedThrough = copied }
    }
}
