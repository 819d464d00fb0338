import Foundation
import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// An append-only job log in one SQLite file: the embedded default event store. Appends are
/// validated against the lifecycle and group-committed; reads stream in constant memory.
/// Safe to share between tasks, and between processes that open the same file.
///
/// Open one per file and process, and hand it to whatever writes or reads the log (a
/// `JobEngine`, a `ProjectionRunner`, your own code):
///
/// ```swift
/// let ledger = try Ledger.open(path: "jobs.sqlite")
/// let job = JobID.generate()
/// let queued = try await ledger.append(NewEvent(
///     job: job, payload: .queued(.init(kind: "design", input: ["prompt": "a red bicycle"]))))
/// print(queued.seq, try await ledger.state(of: job)?.status as Any)   // 1 Optional(queued)
/// ```
public final class Ledger: Sendable {
    /// The file this ledger was opened on, as given to `open(path:configuration:create:migrate:)`
    /// or `openReadOnly(path:configuration:)`.
    public let path: String
    /// The settings it was opened with: durability, payload limit, busy timeout, clock.
    public let configuration: LedgerConfiguration
    package let pool: DatabasePool
    /// Gathers this ledger's appends into transactions and remembers what its writer last committed.
    let committer: GroupCommitter
    /// Keeps the synchronous append fast path off the writer while another write uses it.
    let gate = WriteGate()
    /// Counts the calls on the connections, so that `close()` waits for them and refuses later ones.
    let use = ConnectionUse()
    /// `configuration.busyTimeout` in milliseconds, as `sqlite3_busy_timeout` takes it (the
    /// fast append path sets it to 0 and back on every commit).
    let busyTimeoutMilliseconds: Int32
    /// Signalled after every commit that appended events through this `Ledger` (and after an
    /// import): what live projections wait on in-process. Other processes' appends are seen
    /// by polling.
    package let appended = WakeSignal()
    /// The schema the file has: `Schema.version` unless it was opened with `migrate: false`.
    public let schemaVersion: Int
    /// The schema an existing log had when this open upgraded it in place to `schemaVersion`;
    /// nil when no upgrade ran here (a new or current log, `migrate: false`, a read-only open,
    /// or another process that upgraded it first). Worth telling whoever runs the process:
    /// jobledger builds that know only the older schema refuse the file from now on.
    public let migratedFrom: Int?
    /// True when the file has the projection tables (schema v3 and later).
    public var hasProjections: Bool { schemaVersion >= 3 }
    /// The hash rule this ledger's appends use: `HashChain.Rule.current` from schema v4 on.
    var appendRule: HashChain.Rule { schemaVersion >= 4 ? .v2 : .v1 }
    /// True when a `failed` event may carry `refunds_attempt` (schema v8 on). A log left at an
    /// older schema (`migrate: false`) may still be read by the jobledger that wrote it, which
    /// refuses a field it does not know; an engine then records a shutdown without the refund.
    public var recordsAttemptRefunds: Bool { schemaVersion >= 8 }
    /// True when a `queued` event may name its `owner` (schema v7 on: the field came during
    /// v6). On a log left at an older schema (`migrate: false`) a `queued` event with an owner
    /// is refused: the jobledger that wrote the log would refuse to read it.
    public var recordsOwners: Bool { schemaVersion >= 7 }
    /// True when the log records which seqs came in by an import (`ImportedRanges`, schema v9
    /// on); an older log has no record of them.
    public var recordsImports: Bool { schemaVersion >= 9 }
    /// True for a ledger from `openReadOnly`: it reads, and every write fails with
    /// `LedgerError.readOnly`.
    public let isReadOnly: Bool
    /// For a read-only ledger that reads the file without locks (no `-wal` when it was opened):
    /// the main file as it was then. Every read checks that it has not changed since; see
    /// `openReadOnly`.
    let unlockedFile: FileIdentity?
    /// True for a read-only ledger that reads the file without locks (it had no `-wal` when it
    /// was opened): it does not see a writer that starts later, and its reads fail once such a
    /// writer checkpoints into the file. One that follows the log opens it again then.
    package var readsWithoutLocks: Bool { unlockedFile != nil }
    /// The file a ledger opened for writing has open (see `checkFileIsThere`).
    let openedFile: FileNode?
    /// Its `-wal` and `-shm` as first seen (see `checkFileIsThere`).
    let companions: CompanionFiles?
    /// Checkpoints the WAL of a ledger opened for writing, mostly off its writer.
    package let checkpointer: WALCheckpointer?

    /// True for a read-only ledger that reads with locks although no `-wal` lay beside the file
    /// when it was opened: SQLite created the `-wal` and `-shm` it reads through, and the
    /// ledger has them removed when it closes (see `LockedRead`).
    let removesCreatedCompanions: Bool
    /// Set by `close()`: the connections are closed, and the release has nothing left to do.
    let closed = Mutex(false)

    deinit {
        guard !closed.withLock({ $0 }) else { return }
        // Before the pool's connections close: no background checkpoint outlives the ledger.
        checkpointer?.close()
        if removesCreatedCompanions {
            try? pool.close()
            LockedRead.closeAsLastConnection(path: path)
        }
    }

    /// Opens the log at `path`, creating and migrating it when `create` is true. A file that is
    /// not a log, or has a newer schema, is refused without being changed.
    ///
    /// With `migrate: false` an older log is read as it is, never upgraded: what inspection
    /// commands use, so that looking at a log never changes its schema under an older
    /// jobledger still running on it. Projection tables an older schema lacks read as empty.
    ///
    /// ```swift
    /// var settings = LedgerConfiguration()
    /// settings.durability = .full                  // every commit on disk before append returns
    /// let ledger = try Ledger.open(path: "jobs.sqlite", configuration: settings)
    ///
    /// // Only an existing log, never a new file:
    /// let existing = try Ledger.open(path: "jobs.sqlite", create: false)
    /// ```
    ///
    /// - Throws: `LedgerError.invalidConfiguration` (an empty `path`, or a configuration
    ///   `LedgerConfiguration.validate()` refuses; nothing is touched), `.noSuchLog` (no file and
    ///   `create` is false), `.notALedger`, `.newerSchema`, `.busy` (another writer held the lock
    ///   past the busy timeout), `.storage`.
    public static func open(path: String, configuration: LedgerConfiguration = LedgerConfiguration(), create: Bool = true,
                            migrate: Bool = true) throws(LedgerError) -> Ledger {
        try checkOpening(path: path, configuration: configuration)
        try checkPathResolves(path: path)
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create { throw .noSuchLog(path: path) }
        if exists {
            try checkIsFileOrFolder(path: path)
            let size = fileSize(path) ?? 0
            if size > 0 {
                try checkHeader(path: path)
                if (fileSize(resolvingSymlink(path) + "-wal") ?? 0) > 0 {
                    // The header may be stale: the truth is in the -wal. Look through a
                    // read-only connection first, which never checkpoints, so that a foreign
                    // database is refused without its -wal being written into it (a writing
                    // connection would checkpoint it when it closes).
                    _ = try openReadOnly(path: path, configuration: configuration, create: create)
                }
            } else if !create {
                throw .notALedger(path: path, detail: "the file is empty")
            }
        }
        var config = Configuration()
        config.busyMode = .timeout(seconds(configuration.busyTimeout))
        let sync = configuration.durability == .full ? "FULL" : "NORMAL"
        let maxPageCount = configuration.maxPageCount
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            if let maxPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
        }
        let checkpointer = WALCheckpointer(path: path, synchronous: sync)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: SQLiteURI.literal(path), configuration: config)
        } catch {
            throw map(error, path: path, configuration: configuration)
        }
        var schema = Schema.version
        var migratedFrom: Int?
        do {
            // On the writer's connection, which is open already: a reader's would be one more
            // connection (three descriptors) for every log opened.
            let found = try pool.writeWithoutTransaction { db in
                let version = try schemaVersion(db, path: path, create: create)
                if migrate {
                    try refuseLostEnd(db, path: path)
                    try refuseImpossibleSeqs(db, path: path)
                }
                return version
            }
            let needsMigration = found < Schema.version
            if needsMigration && (migrate || found == 0) {
                // Each migration records itself in grdb_migrations through the writer's
                // connection: changes counted there mean this open ran one, not another process
                // that got to the file between the look above and the migrator's lock.
                let changesBefore = pool.writeWithoutTransaction { $0.totalChangesCount }
                try Schema.migrator.migrate(pool)
                let ranHere = pool.writeWithoutTransaction { $0.totalChangesCount } > changesBefore
                if found > 0 && ranHere { migratedFrom = found }
            } else if needsMigration {
                schema = found
            }
            // GRDB sets synchronous=NORMAL on the writer when it enables WAL; the durability
            // setting is applied after that, on the connection that commits.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(sync)")
                // The writer starts the WAL again from its beginning: the `-wal` file is cut
                // back to this then, whatever a burst made it.
                try db.execute(sql: "PRAGMA journal_size_limit = \(WALCheckpointPolicy.sizeLimitBytes)")
                checkpointer.install(on: db)
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw map(error, path: path, configuration: configuration)
        }
        return Ledger(path: path, configuration: configuration, pool: pool, schemaVersion: schema, isReadOnly: false, unlockedFile: nil,
                      checkpointer: checkpointer, migratedFrom: migratedFrom)
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        TimeInterval(d.components.seconds) + TimeInterval(d.components.attoseconds) / 1e18
    }

    /// The size of the file at `path`, through symlinks (`stat`); nil when there is none.
    /// (Foundation's `attributesOfItem` gives a symlink's own size: `verify` on a log reached
    /// through one said "the file is 8 bytes" and called it damaged.)
    static func fileSize(_ path: String) -> Int? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return Int(s.st_size)
    }

    init(path: String, configuration: LedgerConfiguration, pool: DatabasePool, schemaVersion: Int, isReadOnly: Bool,
                 unlockedFile: FileIdentity?, removesCreatedCompanions: Bool = false, checkpointer: WALCheckpointer? = nil,
                 migratedFrom: Int? = nil) {
        self.path = path
        self.migratedFrom = migratedFrom
        self.checkpointer = checkpointer
        self.configuration = configuration
        self.pool = pool
        self.schemaVersion = schemaVersion
        self.isReadOnly = isReadOnly
        self.unlockedFile = unlockedFile
        self.removesCreatedCompanions = removesCreatedCompanions
        self.openedFile = isReadOnly ? nil : FileNode(path: path)
        self.companions = isReadOnly ? nil : CompanionFiles(path: Self.resolvingSymlink(path))
        self.committer = GroupCommitter()
        busyTimeoutMilliseconds = Int32(clamping: configuration.busyTimeout.components.seconds * 1000
                                        + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000)
    }

    static func map(_ error: any Error, path: String, configuration: LedgerConfiguration, isReadOnly: Bool = false) -> LedgerError {
        if let e = error as? LedgerError { return e }
        if let e = error as? DatabaseError {
            // GRDB's word for a connection `close()` has closed.
            if e.resultCode == .SQLITE_MISUSE, e.message == "Connection is closed" { return .closed(path: path) }
            switch e.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                let c = configuration.busyTimeout.components
                return .busy(path: path, waitedMilliseconds: c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000)
            case .SQLITE_NOTADB:
                return .notALedger(path: path, detail: "it is not an SQLite database")
            case .SQLITE_READONLY where isReadOnly:
                return .readOnly(path: path)
            case .SQLITE_CANTOPEN:
                return .storage(cannotOpen(path, sqlite: e.message ?? "unable to open database file"))
            case .SQLITE_CORRUPT:
                // Name the file: "database disk image is malformed" alone does not say which.
                return .storage("\(path) is damaged (SQLite: \(e.message ?? "database disk image is malformed")); restore it from a backup or an export")
            default:
                if let fault = StorageFault.classify(e, path: path) { return .storageFault(fault) }
                if let missing = missingTable(e, path: path) { return missing }
                return .storage(e.message ?? "\(e.resultCode)")
            }
        }
        if error is LifecycleError || error is VersionGap {
            let e = error
            // An append wraps its own refusal (`rejected`), so a lifecycle error that gets here
            // came from folding events already stored: the log breaks its own rules, which only
            // a change behind its back does (an event deleted, moved or edited).
            return .storage("\(path) holds events that break their job's lifecycle (\(e)): the log was changed after they were recorded; "
                            + "verify it to find the first bad seq, and restore it from a backup or an export")
        }
        return .storage("\(error)")
    }

    /// A table of the log dropped behind its back, said as such: SQLite's "no such table:
    /// outbox" named neither the file nor a way out. The `jobs` table is rebuilt by its
    /// projection; the others are not derived from the events alone (what was delivered, what
    /// was published), so the way out is a new log made from an export.
    static func missingTable(_ e: DatabaseError, path: String) -> LedgerError? {
        guard e.resultCode == .SQLITE_ERROR, let message = e.message, message.hasPrefix("no such table: ") else { return nil }
        let table = String(message.dropFirst("no such table: ".count))
        // The derived tables only: the events (and the assets they name) missing is damage
        // that `verify` names.
        guard ["jobs", "outbox", "blobs", "projections", "imports", "engine_snapshots", "engine_snapshot_parts"].contains(table) else { return nil }
        if table == "jobs" { return .missingProjectionTable(path: path, table: table) }
        return .storage("the \(table) table is missing from \(path) (dropped behind the log's back?): run jobledger verify on it; "
                        + "to go on, export the log and import it into a new one (jobledger export --db \(path) > log.ndjson, then jobledger import --db new.sqlite log.ndjson)")
    }

    /// Once the ledger is closed, whatever SQLite or GRDB says of a call ("Connection is
    /// closed", a misuse) is that: `.closed`.
    func map(_ error: any Error) -> LedgerError {
        if isClosed { return .closed(path: path) }
        return Ledger.map(error, path: path, configuration: configuration, isReadOnly: isReadOnly)
    }

    /// Whether `close()` has closed the connections.
    var isClosed: Bool { closed.withLock { $0 } }

    /// The connection's SQLite handle, or `.closed` when `close()` has closed it: GRDB hands a
    /// closed connection to a write as to any other, and SQLite's own calls on its nil handle
    /// crashed the process (an append after `close()`, an engine still working).
    func handle(_ db: Database) throws(LedgerError) -> OpaquePointer {
        guard let handle = db.sqliteConnection else { throw .closed(path: path) }
        return handle
    }

    /// Why SQLite could not open `path`, for people: SQLite says only "unable to open database
    /// file", which names neither the file nor the reason (a mistyped folder, a folder given
    /// as the log, no permission, no descriptors left).
    static func cannotOpen(_ path: String, sqlite: String) -> String {
        let fm = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            return "cannot open \(path): it is a folder, not a log file"
        }
        if !fm.fileExists(atPath: folder, isDirectory: &isFolder) {
            return "cannot open \(path): the folder \(folder) does not exist"
        }
        if !isFolder.boolValue { return "cannot open \(path): \(folder) is not a folder" }
        let exists = fm.fileExists(atPath: path)
        if let reason = SystemReason.ofUnwritable(folder) ?? (exists ? SystemReason.ofUnwritable(path) : nil) {
            return cannotWrite(path, folder: folder, exists: exists, reason: reason)
        }
        return "cannot open \(path) (SQLite: \(sqlite))"
    }

    /// `cannotOpen`'s words for a log (`exists`) or a folder to make it in that `access(2)`
    /// says may not be written: a read-only file system (EROFS, a read-only mount: no change of
    /// permission helps) is said as such; any other reason (EACCES, EPERM) is no permission.
    static func cannotWrite(_ path: String, folder: String, exists: Bool, reason: SystemReason) -> String {
        if reason.code == EROFS {
            return "cannot open \(path): \(exists ? "it" : "its folder \(folder)") is on a read-only file system, where nothing can be written"
        }
        return "cannot open \(path): no permission to write \(exists ? "it" : "in \(folder)")"
    }

    /// An async write in one transaction on the writer connection, counted by the write gate
    /// so that the synchronous append fast path never waits behind it.
    ///
    /// While another connection (a second process, a `sqlite3` shell) holds the log's write
    /// lock, it waits for it off GRDB's writer queue: it tries the lock without waiting and,
    /// when it is taken, gives the queue up and tries again shortly (for up to the busy
    /// timeout, as before, then SQLITE_BUSY). Waiting on the queue, each projection's step held
    /// it for a whole busy timeout in turn, and an append queued behind three of them was
    /// answered after four busy timeouts instead of one (a submit's 503 after 19 s, not 5).
    func gatedWrite<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        let normal = busyTimeoutMilliseconds
        let deadline = ContinuousClock.now.advanced(by: configuration.busyTimeout)
        var pause = Duration.milliseconds(1)
        while true {
            await gate.enter()
            let attempt: LockAttempt<T>
            do {
                defer { gate.leave() }
                // Not counted in `use` (a close would wait on a thread of the cooperative pool for
                // this task to resume): GRDB's close runs on the writer's queue after it, and a
                // write queued behind the close is told `.closed` by `handle(_:)`.
                guard !use.isClosing else { throw LedgerError.closed(path: path) }
                attempt = try await pool.writeWithoutTransaction { db -> LockAttempt<T> in
                    let handle = try self.handle(db)
                    sqlite3_busy_timeout(handle, 0)
                    defer { sqlite3_busy_timeout(handle, normal) }
                    do { try db.beginTransaction(.immediate) } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY {
                        return .taken
                    }
                    sqlite3_busy_timeout(handle, normal)
                    do {
                        let result = try updates(db)
                        try db.commit()
                        return .done(result)
                    } catch {
                        if db.isInsideTransaction { try? db.rollback() }
                        throw error
                    }
                }
            }
            if case .done(let result) = attempt { return result }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked") }
            try await Task.sleep(for: min(pause, left))
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// One try of `gatedWrite`: its result, or the write lock was taken by another connection.
    private enum LockAttempt<T: Sendable>: Sendable {
        case done(T)
        case taken
    }

    /// `gatedWrite` without the transaction (the body manages its own, or only reads).
    func gatedWriteWithoutTransaction<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        await gate.enter()
        defer { gate.leave() }
        // Not counted in `use`, as in `gatedWrite`.
        guard !use.isClosing else { throw LedgerError.closed(path: path) }
        return try await pool.writeWithoutTransaction(updates)
    }

    /// Runs a read in one snapshot of the log's database, mapping errors to `LedgerError`: how
    /// an app reads the rows of its own state projection (or any table of the file) with GRDB.
    /// On a log read without locks, fails when the file changed meanwhile (the snapshot may mix
    /// two states). Writing is refused: rows are written by projections, events by appends.
    ///
    /// ```swift
    /// let slowest = try ledger.read { db in
    ///     try Row.fetchAll(db, sql: "SELECT job, seconds FROM job_durations ORDER BY seconds DESC LIMIT 10")
    /// }
    /// ```
    public func read<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        let result: T
        guard use.enter() else { throw .closed(path: path) }
        defer { use.leave() }
        do { result = try pool.read(body) } catch let e as DatabaseError where e.extendedResultCode == .SQLITE_READONLY {
            // The reader's connection is read-only: a plain SQLITE_READONLY is the body trying to
            // write (a file that became read-only shows as a storage fault on writes instead).
            throw .storage("Ledger.read only reads, and the body tried to write (SQLite: \(e.message ?? "attempt to write a readonly database")); write rows from a projection, events with append")
        } catch { throw mapRead(error) }
        if fileChangedUnderUnlockedRead { throw .writtenWhileReadWithoutLocks(path: path) }
        return result
    }

    /// True when this ledger reads its file without locks and the file is no longer as it was
    /// when the ledger was opened.
    var fileChangedUnderUnlockedRead: Bool {
        guard let before = unlockedFile else { return false }
        return FileIdentity(path: path) != before
    }

    /// `map` for an error a read threw. Without locks, a page read while a writer checkpointed
    /// into the file can mix two states: SQLite then says "database disk image is malformed",
    /// or a row does not decode. Once the file has changed that says nothing about the log, so
    /// it is the read that failed (`writtenWhileReadWithoutLocks`), not the log that is damaged.
    func mapRead(_ error: any Error) -> LedgerError {
        if fileChangedUnderUnlockedRead, error is DatabaseError || error is LedgerError || error is LifecycleError || error is PayloadError {
            return .writtenWhileReadWithoutLocks(path: path)
        }
        return map(error)
    }
}
