import Foundation
import GRDB
import GRDBSQLite
import JobLedger
import Synchronization

/// An append-only job log in one SQLite file: the embedded default event store. Appends are
/// validated against the lifecycle and group-committed; reads stream in constant memory.
/// Safe to share between tasks, and between processes that open the same file.
public final class Ledger: Sendable {
    public let path: String
    public let configuration: LedgerConfiguration
    package let pool: DatabasePool
    let writer: GroupCommitter
    /// Keeps the synchronous append fast path off the writer while another write uses it.
    let gate = WriteGate()
    /// `configuration.busyTimeout` in milliseconds, as `sqlite3_busy_timeout` takes it (the
    /// fast append path sets it to 0 and back on every commit).
    let busyTimeoutMilliseconds: Int32
    /// Signalled after every commit that appended events through this `Ledger` (and after an
    /// import): what live projections wait on in-process. Other processes' appends are seen
    /// by polling.
    package let appended = WakeSignal()
    /// The schema the file has: `Schema.version` unless it was opened with `migrate: false`.
    public let schemaVersion: Int
    /// True when the file has the projection tables (schema v3 and later).
    public var hasProjections: Bool { schemaVersion >= 3 }
    /// The hash rule this ledger's appends use: `HashChain.Rule.current` from schema v4 on.
    var appendRule: HashChain.Rule { schemaVersion >= 4 ? .v2 : .v1 }
    /// True for a ledger from `openReadOnly`: it reads, and every write fails with
    /// `LedgerError.readOnly`.
    public let isReadOnly: Bool
    /// For a read-only ledger that reads the file without locks (no `-wal` when it was opened):
    /// the main file as it was then. Every read checks that it has not changed since; see
    /// `openReadOnly`.
    let unlockedFile: FileIdentity?
    /// The file a ledger opened for writing has open (see `checkFileIsThere`).
    let openedFile: FileNode?

    /// Opens the log at `path`, creating and migrating it when `create` is true. A file that is
    /// not a log, or has a newer schema, is refused without being changed.
    ///
    /// With `migrate: false` an older log is read as it is, never upgraded: what inspection
    /// commands use, so that looking at a log never changes its schema under an older
    /// jobledger still running on it. Projection tables an older schema lacks read as empty.
    public static func open(path: String, configuration: LedgerConfiguration = LedgerConfiguration(), create: Bool = true,
                            migrate: Bool = true) throws(LedgerError) -> Ledger {
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create { throw .noSuchLog(path: path) }
        if exists {
            let size = fileSize(path) ?? 0
            if size > 0 {
                try checkHeader(path: path)
                if (fileSize(path + "-wal") ?? 0) > 0 {
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
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw map(error, path: path, configuration: configuration)
        }
        var schema = Schema.version
        do {
            let found = try pool.writeWithoutTransaction { db in try schemaVersion(db, path: path, create: create) }
            let needsMigration = found < Schema.version
            if needsMigration && (migrate || found == 0) {
                try Schema.migrator.migrate(pool)
            } else if needsMigration {
                schema = found
            }
            // GRDB sets synchronous=NORMAL on the writer when it enables WAL; the durability
            // setting is applied after that, on the connection that commits.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(sync)")
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw map(error, path: path, configuration: configuration)
        }
        return Ledger(path: path, configuration: configuration, pool: pool, schemaVersion: schema, isReadOnly: false, unlockedFile: nil)
    }

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
    ///   and checkpoint into the file, the next read fails with `LedgerError.storage` (run the
    ///   command again) instead of returning a mix of two states.
    /// - a `-wal` (a live writer, or one that crashed): a read-only connection that uses the
    ///   existing `-wal` and `-shm`, sees every committed event, and never checkpoints.
    public static func openReadOnly(path: String, configuration: LedgerConfiguration = LedgerConfiguration()) throws(LedgerError) -> Ledger {
        try openReadOnly(path: path, configuration: configuration, create: false)
    }

    /// `openReadOnly`; with `create: true` (a probe before opening for writing) an SQLite
    /// database without objects is accepted as a log to be.
    private static func openReadOnly(path: String, configuration: LedgerConfiguration, create: Bool) throws(LedgerError) -> Ledger {
        // The file's identity is taken before looking for a -wal: a writer that starts in
        // between is then seen either way.
        let identity = FileIdentity(path: path)
        guard identity != nil || FileManager.default.fileExists(atPath: path) else { throw .noSuchLog(path: path) }
        guard (fileSize(path) ?? 0) > 0 else { throw .notALedger(path: path, detail: "the file is empty") }
        try checkHeader(path: path)
        let wal = fileSize(path + "-wal")
        // A -wal with content holds committed events; a -wal and a -shm together may belong to
        // a live writer. Either way the file alone is not the log: read it with the WAL.
        let withWAL = (wal ?? 0) > 0 || (wal != nil && FileManager.default.fileExists(atPath: path + "-shm"))
        let unlocked = !withWAL && SQLiteURI.isSupported
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(seconds(configuration.busyTimeout))
        let pool: DatabasePool
        let found: Int
        do {
            pool = try DatabasePool(path: SQLiteURI.isSupported ? SQLiteURI.readOnly(path: path, immutable: unlocked) : path,
                                    configuration: config)
            found = try pool.read { db in try schemaVersion(db, path: path, create: create) }
        } catch {
            throw map(error, path: path, configuration: configuration)
        }
        return Ledger(path: path, configuration: configuration, pool: pool, schemaVersion: found, isReadOnly: true,
                      unlockedFile: unlocked ? identity : nil)
    }

    /// Checks that the database is a log (or, with `create`, an empty database that may become
    /// one) of a schema this build reads, and returns its schema version (0: not yet a log).
    private static func schemaVersion(_ db: Database, path: String, create: Bool) throws -> Int {
        let appID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let userVersion = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if appID == 0 {
            let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
            guard tables == 0 else {
                throw LedgerError.notALedger(path: path, detail: "it is an SQLite database with \(tables) other object\(tables == 1 ? "" : "s") and no JobLedger marker")
            }
            guard create else {
                throw LedgerError.notALedger(path: path, detail: "it is an SQLite database that is not (yet) a JobLedger log")
            }
        } else if appID != Schema.applicationID {
            throw LedgerError.notALedger(path: path, detail: "its SQLite application id is \(appID), not JobLedger's")
        }
        if userVersion > Schema.version {
            throw LedgerError.newerSchema(path: path, found: userVersion, supported: Schema.version)
        }
        return userVersion
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        TimeInterval(d.components.seconds) + TimeInterval(d.components.attoseconds) / 1e18
    }

    static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    }

    private init(path: String, configuration: LedgerConfiguration, pool: DatabasePool, schemaVersion: Int, isReadOnly: Bool,
                 unlockedFile: FileIdentity?) {
        self.path = path
        self.configuration = configuration
        self.pool = pool
        self.schemaVersion = schemaVersion
        self.isReadOnly = isReadOnly
        self.unlockedFile = unlockedFile
        self.openedFile = isReadOnly ? nil : FileNode(path: path)
        self.writer = GroupCommitter()
        busyTimeoutMilliseconds = Int32(clamping: configuration.busyTimeout.components.seconds * 1000
                                        + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Refuses a file that is not a log, or a log of a newer schema, before anything opens it
    /// for writing (GRDB's pool setup would switch a foreign database to WAL and commit a
    /// scratch table). Reads only the 100-byte SQLite header and page 1's b-tree header, which
    /// are current unless a non-empty `-wal` file exists; such a file is already in WAL mode,
    /// and the checks after opening it write nothing.
    private static func checkHeader(path: String) throws(LedgerError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .storage("cannot open \(path) for reading (check its permissions)")
        }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 108)) ?? Data())
        guard header.count >= 16, header.prefix(16).elementsEqual("SQLite format 3\0".utf8) else {
            throw .notALedger(path: path, detail: "it is not an SQLite database")
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int ?? 0
        guard wal == 0, header.count == 108 else { return }
        func bigEndian(_ offset: Int, _ count: Int) -> UInt32 {
            header[offset..<offset + count].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let applicationID = Int32(bitPattern: bigEndian(68, 4))  // PRAGMA application_id
        let userVersion = Int(Int32(bitPattern: bigEndian(60, 4)))  // PRAGMA user_version
        if applicationID == Schema.applicationID {
            if userVersion > Schema.version { throw .newerSchema(path: path, found: userVersion, supported: Schema.version) }
            return
        }
        if applicationID != 0 {
            throw .notALedger(path: path, detail: "its SQLite application id is \(applicationID), not JobLedger's")
        }
        // No marker: only an SQLite file with an empty schema may become a log. Page 1 holds
        // sqlite_master; it is empty when it is a leaf page (0x0D) with no cells.
        let pageType = header[100], cells = Int(bigEndian(103, 2))
        if pageType == 0x0D && cells == 0 { return }
        let objects = pageType == 0x0D ? "\(cells) other object\(cells == 1 ? "" : "s")" : "other objects"
        throw .notALedger(path: path, detail: "it is an SQLite database with \(objects) and no JobLedger marker")
    }

    static func map(_ error: any Error, path: String, configuration: LedgerConfiguration, isReadOnly: Bool = false) -> LedgerError {
        if let e = error as? LedgerError { return e }
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                let c = configuration.busyTimeout.components
                return .busy(path: path, waitedMilliseconds: c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000)
            case .SQLITE_NOTADB:
                return .notALedger(path: path, detail: "it is not an SQLite database")
            case .SQLITE_READONLY where isReadOnly:
                return .readOnly(path: path)
            default:
                if let fault = StorageFault.classify(e, path: path) { return .storageFault(fault) }
                return .storage(e.message ?? "\(e.resultCode)")
            }
        }
        return .storage("\(error)")
    }

    func map(_ error: any Error) -> LedgerError { Ledger.map(error, path: path, configuration: configuration, isReadOnly: isReadOnly) }

    /// An async write in one transaction on the writer connection, counted by the write gate
    /// so that the synchronous append fast path never waits behind it.
    func gatedWrite<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        await gate.enter()
        defer { gate.leave() }
        return try await pool.write(updates)
    }

    /// `gatedWrite` without the transaction (the body manages its own, or only reads).
    func gatedWriteWithoutTransaction<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        await gate.enter()
        defer { gate.leave() }
        return try await pool.writeWithoutTransaction(updates)
    }

    /// Runs a read in one snapshot, mapping errors to `LedgerError`. On a log read without
    /// locks, fails when the file changed meanwhile (the snapshot may mix two states).
    package func read<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        let result: T
        do { result = try pool.read(body) } catch { throw map(error) }
        if let before = unlockedFile, FileIdentity(path: path) != before {
            throw .storage("\(path) was written while it was read without locks (a writer started on it after this command opened it, when it had no -wal); what was read may mix two states: run the command again")
        }
        return result
    }

    // MARK: - Reading

    /// The last event's `SEQ:HASH`, or nil for an empty log.
    public func head() throws(LedgerError) -> ChainHead? {
        try read { db in try Ledger.fetchHead(db) }
    }

    package static func fetchHead(_ db: Database) throws -> ChainHead? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")) else { return nil }
        return ChainHead(seq: row[0], hash: row[1])
    }

    /// Number of events in the log.
    public func eventCount() throws(LedgerError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    /// Calls `body` with every stored row from `seq` on, in order, from one consistent snapshot,
    /// in constant memory.
    public func forEachRawEvent(from seq: Int64 = 1, _ body: (RawEvent) throws -> Void) throws(LedgerError) {
        try scanRaw(from: seq) { raw in try body(raw); return true }
    }

    /// Like `forEachRawEvent`, stopping early when `body` returns false.
    func scanRaw(from seq: Int64 = 1, _ body: (RawEvent) throws -> Bool) throws(LedgerError) {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq", arguments: [seq])
            while let row = try cursor.next() { if try !body(RawEvent(row: row)) { return } }
        }
    }

    /// Calls `body` with every event from `seq` on, decoded, in order, in constant memory.
    public func forEachEvent(from seq: Int64 = 1, _ body: (StoredEvent) throws -> Void) throws(LedgerError) {
        try forEachRawEvent(from: seq) { raw in try body(try raw.decoded()) }
    }

    /// Calls `body` with one job's events in version order, in constant memory.
    public func forEachEvent(of job: JobID, _ body: (StoredEvent) throws -> Void) throws(LedgerError) {
        try read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? ORDER BY version", arguments: [job.rawValue])
            while let row = try cursor.next() { try body(try RawEvent(row: row).decoded()) }
        }
    }

    /// The log from `seq` on as an async sequence, read on demand in pages of `pageSize`
    /// events, each page its own short read: constant memory, and a slow consumer never holds
    /// a snapshot open.
    public func events(from seq: Int64 = 1, pageSize: Int = 512) -> LedgerEvents {
        LedgerEvents(ledger: self, from: seq, pageSize: max(1, pageSize))
    }

    /// One page of the log: up to `limit` events from `seq` on, in order.
    public func page(from seq: Int64, limit: Int) throws(LedgerError) -> [StoredEvent] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map { try RawEvent(row: $0).decoded() }
        }
    }

    /// `page(from:limit:)` for async code: read through GRDB's async read, so the calling task
    /// suspends instead of blocking a thread of the cooperative pool.
    public func page(from seq: Int64, limit: Int) async throws(LedgerError) -> [StoredEvent] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                    .map { try RawEvent(row: $0).decoded() }
            }
        } catch { throw map(error) }
    }

    /// `state(of:)` for async code (GRDB's async read).
    public func state(of job: JobID) async throws(LedgerError) -> JobState? {
        do {
            return try await pool.read { db in try Ledger.foldJob(db, job: job, from: nil) }
        } catch { throw map(error) }
    }

    /// The job's current state folded from its events, or nil when it does not exist.
    public func state(of job: JobID) throws(LedgerError) -> JobState? {
        try read { db in try Ledger.foldJob(db, job: job, from: nil) }
    }

    /// Folds one job from the database, starting from `base` (events after its version).
    package static func foldJob(_ db: Database, job: JobID, from base: JobState?, through last: Int = .max) throws -> JobState? {
        var state = base
        let cursor = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? AND version > ? AND version <= ? ORDER BY version"),
            arguments: [job.rawValue, base?.version ?? 0, last])
        while let row = try cursor.next() {
            let e = try RawEvent(row: row).decoded()
            state = try Lifecycle.apply(e.payload, to: state, job: job, at: e.recordedAt)
        }
        return state
    }

    /// Every job's current state, folded from the whole log in one pass.
    public func jobStates() throws(LedgerError) -> [JobID: JobState] {
        var fold = LedgerFold()
        var states: [JobID: JobState] = [:]
        try forEachEvent { e in states[e.job] = try fold.apply(e) }
        return states
    }
}

extension LedgerFold {
    @discardableResult
    public mutating func apply(_ e: StoredEvent) throws(LifecycleError) -> JobState {
        try apply(job: e.job, payload: e.payload, at: e.recordedAt, seq: e.seq)
    }
}

/// The log as an async sequence of events, fetched page by page as the consumer asks.
public struct LedgerEvents: AsyncSequence, Sendable {
    public typealias Element = StoredEvent
    let ledger: Ledger
    let from: Int64
    let pageSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let ledger: Ledger
        let pageSize: Int
        var nextSeq: Int64
        var buffer: [StoredEvent] = []
        var index = 0
        var finished = false

        public mutating func next() async throws -> StoredEvent? {
            if index == buffer.count {
                if finished || Task.isCancelled { return nil }
                buffer = try await ledger.page(from: nextSeq, limit: pageSize)
                index = 0
                guard let last = buffer.last else { finished = true; return nil }
                nextSeq = last.seq + 1
                if buffer.count < pageSize { finished = true }
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(ledger: ledger, pageSize: pageSize, nextSeq: from)
    }
}
