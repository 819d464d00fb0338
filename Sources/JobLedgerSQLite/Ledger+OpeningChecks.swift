import Foundation
import GRDB

/// What opening a log checks before and after SQLite opens it: that the path is a file, that
/// the file is a log (or may become one) of a schema this build reads, and, for a log opened to
/// be written, that no events were cut off its end.
extension Ledger {
    /// Events cut off the end (rows deleted past the triggers) leave a projection's checkpoint
    /// (or the engine's snapshot) past the head. Appending then would reuse those seqs: the
    /// projections would skip the new events as taken in already, and once the log grew past the
    /// checkpoint the evidence would be gone. So a log opened to be written (and migrated) is
    /// refused before anything is written to it; the read-only commands, and `tail`, still read it.
    /// The highest seq a log may hold for a writer to open it: far past any log (a billion
    /// events a second for a century is 2⁶¹·⁵), and far from `Int64.max`, where `seq + 1` traps.
    static let maxWritableSeq: Int64 = 1 << 62

    /// Refuses a log holding a seq no append gives (0 or below, or past `maxWritableSeq`): an
    /// event put in by hand (an INSERT, which the triggers allow). One at `Int64.max` made every
    /// writer trap on `seq + 1` (`submit`, `work`, `project`: a crash with a backtrace).
    static func refuseImpossibleSeqs(_ db: Database, path: String) throws {
        guard try db.tableExists("events") else { return }
        let row = try Row.fetchOne(db, sql: "SELECT min(seq), max(seq) FROM events")
        guard let low: Int64 = row?[0], let high: Int64 = row?[1] else { return }
        let bad = low < 1 ? low : high > maxWritableSeq ? high : nil
        guard let bad else { return }
        throw LedgerError.storage("\(path) holds an event at seq \(bad), which no append gives: the log was changed after its events were recorded; "
                                  + "nothing was written: verify it to find the first bad seq, and restore it from a backup or an export")
    }

    static func refuseLostEnd(_ db: Database, path: String) throws {
        guard try db.tableExists("events"), let (what, seq) = try furthestWitness(db) else { return }
        let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        guard seq > head else { return }
        throw LedgerError.storage("\(path) has lost events: the log ends at seq \(head), but \(what) has taken in events up to seq \(seq) "
                                  + "(events were cut off the end); nothing was written: restore it from a backup or an export, and verify the restored log")
    }

    /// Checks that the database is a log (or, with `create`, an empty database that may become
    /// one) of a schema this build reads, and returns its schema version (0: not yet a log).
    static func schemaVersion(_ db: Database, path: String, create: Bool) throws -> Int {
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
        // Each migration sets user_version as it ends, in its transaction: a marker below the
        // migrations the file records was edited. Taken at its word, readers would check the
        // hashes under the wrong rules and call every event tampered with, and a writer would
        // leave the two disagreeing.
        if appID != 0, try db.tableExists("grdb_migrations") {
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
                .compactMap { id in id.hasPrefix("v") ? Int(id.dropFirst().prefix { $0.isNumber }) : nil }.max() ?? 0
            if applied > userVersion {
                throw LedgerError.storage("\(path) is damaged: its schema marker (user_version \(userVersion)) is below the schema it records (v\(applied)); "
                                          + "the file was edited; restore it from a backup or an export, or set PRAGMA user_version = \(applied) if only the marker was changed")
            }
        }
        return userVersion
    }

    /// Refuses a path the system cannot follow for a reason other than "no such file" — a
    /// symlink loop, a part of the path that is not a folder, no search permission on a folder —
    /// with the system's reason. Without this a loop read as "no such log" (the file seems not to
    /// be there), or as "cannot open … for reading (check its permissions)".
    static func checkPathResolves(path: String) throws(LedgerError) {
        guard let reason = SystemReason.ofUnreachable(path) else { return }
        throw .storage("cannot open \(path): \(reason)")
    }

    /// The path SQLite names the log's companion files after: for a symlink, its target, as
    /// SQLite resolves a symlinked database and keeps its `-wal` and `-shm` beside the target;
    /// any other path as given. The checks that look for a `-wal` or `-shm` look there: through
    /// a symlink, the read-only commands found none beside the link, read the bare file as
    /// immutable and answered as of the last checkpoint (`verify` said ok for a fraction of the
    /// events, `--expect-head` reported a log cut short). The log keeps the path it was given
    /// (its messages, and the files named after it, such as `<db>.blobs`, stay where they were).
    package static func resolvingSymlink(_ path: String) -> String {
        var s = stat()
        guard lstat(path, &s) == 0, s.st_mode & S_IFMT == S_IFLNK, let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// Refuses a path that is a device, a pipe or a socket: `/dev/null` reads as an empty file,
    /// so a log would be "created" there (SQLite then writes `/dev/null-journal`) and fail with
    /// a false I/O error; a FIFO would block the reader. A folder is left to `checkHeader`,
    /// which says how to name the log in it.
    static func checkIsFileOrFolder(path: String) throws(LedgerError) {
        var s = stat()
        guard stat(path, &s) == 0 else { return }  // gone meanwhile: opening says so
        let type = s.st_mode & S_IFMT
        guard type != S_IFREG, type != S_IFDIR else { return }
        let what = type == S_IFCHR || type == S_IFBLK ? "a device" : type == S_IFIFO ? "a pipe (FIFO)" : type == S_IFSOCK ? "a socket" : "not a regular file"
        throw .notALedger(path: path, detail: "it is \(what), not a log file")
    }

    /// Refuses a file that is not a log, or a log of a newer schema, before anything opens it
    /// for writing (GRDB's pool setup would switch a foreign database to WAL and commit a
    /// scratch table). Reads only the 100-byte SQLite header and page 1's b-tree header, which
    /// are current unless a non-empty `-wal` file exists; such a file is already in WAL mode,
    /// and the checks after opening it write nothing.
    static func checkHeader(path: String) throws(LedgerError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw .notALedger(path: path, detail: "it is a folder (give the log file's path, e.g. \((path as NSString).appendingPathComponent("jobledger.sqlite")))")
        }
        let handle: FileHandle
        switch SystemReason.openForReading(path) {
        case .success(let fd): handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        case .failure(let reason): throw .storage("cannot open \(path) for reading: \(reason)")
        }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 108)) ?? Data())
        guard header.count >= 16, header.prefix(16).elementsEqual("SQLite format 3\0".utf8) else {
            throw .notALedger(path: path, detail: "it is not an SQLite database")
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: resolvingSymlink(path) + "-wal"))?[.size] as? Int ?? 0
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
}
