import Foundation
import GRDB

/// The storage under a log failing, rather than the log refusing what was asked: the disk is
/// full, an I/O error, the file became read-only or was moved or deleted while open. Such a fault
/// can clear without anyone touching the log (space is freed, the disk is remounted), so the
/// engine and the projection runner wait it out with backoff instead of failing their work;
/// a one-shot command waits for a bounded time and then stops with exit 6 (`LedgerError.storageFault`).
///
/// ```swift
/// do { try await ledger.append(event) } catch .storageFault(let fault) {
///     print(fault.summary, "—", fault.remedy)   // what failed, where, how much room is left; what to do
/// }
/// ```
public struct StorageFault: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of fault it is.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `SQLITE_FULL`: the disk (or a quota, or SQLite's `max_page_count`) has no room for the
        /// log to grow.
        case full
        /// `SQLITE_IOERR`: the operating system reported an I/O error.
        case io
        /// `SQLITE_READONLY` on a log opened for writing: the file, its folder or the file system
        /// became read-only.
        case readOnly = "read_only"
        /// The file was moved or deleted while the log was open.
        case vanished
    }

    /// What kind of fault it is.
    public var kind: Kind
    /// The log file.
    public var path: String
    /// SQLite's (or the system's) own words.
    public var detail: String
    /// Bytes free to this process on the file system that holds the log, when it was seen; nil
    /// when unknown.
    public var freeBytes: Int64?

    /// A fault of `kind` on the log at `path`; `freeBytes` is measured when not given.
    public init(kind: Kind, path: String, detail: String, freeBytes: Int64? = nil) {
        self.kind = kind
        self.path = path
        self.detail = detail
        self.freeBytes = freeBytes ?? StorageFault.freeBytes(near: path)
    }

    /// What failed and where, with the free space when known, in one line.
    public var summary: String {
        let free = freeBytes.map { "; \(StorageFault.text(bytes: $0)) free on its file system" } ?? ""
        switch kind {
        case .full:
            // Room on the file system means a limit other than the disk was reached.
            let limit = (freeBytes ?? 0) >= 64 << 20 ? " (the file system has room: a quota or a size limit such as SQLite's max_page_count is what was reached)" : ""
            return "the log \(path) is full (SQLite: \(detail))\(free)\(limit)"
        case .io: return "I/O error on the log \(path) (SQLite: \(detail))\(free)"
        case .readOnly: return "the log \(path) is read-only (SQLite: \(detail))"
        case .vanished where lostCompanionFile: return "the log \(path) lost a file SQLite had open: \(detail)"
        case .vanished: return "the log \(path) was moved or deleted while open (\(detail))"
        }
    }

    /// What to do about it.
    public var remedy: String {
        switch kind {
        case .full where detail.contains("(ulimit -f)"): return "raise the process's file-size limit (ulimit -f unlimited)"
        case .full: return "free space on the disk that holds it (or raise the limit)"
        case .io: return "check the disk and the file system (kernel log, dmesg)"
        case .readOnly: return "make the file, its -wal and -shm and their folder writable again (or remount the file system read-write)"
        case .vanished where lostCompanionFile: return "stop every process using the log, then run jobledger verify on it"
        case .vanished: return "put the file back at its path, or restart the process on the log where it now is"
        }
    }

    /// The `vanished` fault of a `-wal` or `-shm` (`suffix`) beside the log at `path` that was
    /// deleted or replaced while open (`checkFileIsThere`).
    static func lostCompanion(_ suffix: String, path: String) -> StorageFault {
        StorageFault(kind: .vanished, path: path, detail: "its \(suffix) file was deleted or replaced while the log was open "
                     + "(never delete a live log's -wal or -shm: events committed since the last checkpoint may be lost)")
    }

    /// A `vanished` fault of the `-wal` or `-shm` beside the log (`lostCompanion`), not of the
    /// log itself: what was committed into the deleted file may be lost, and it cannot come back.
    package var lostCompanionFile: Bool {
        kind == .vanished && CompanionFiles.suffixes.contains { detail.hasPrefix("its \($0) file ") }
    }

    /// `storage fault: <summary>; <remedy>`.
    public var description: String { "storage fault: \(summary); \(remedy)" }

    /// The fault `error` reports, if it is one: nil for anything the storage may do again at
    /// once (a busy lock), refuses for good (a corrupt file) or that is not SQLite's.
    static func classify(_ error: DatabaseError, path: String, free: (String) -> Int64? = StorageFault.freeBytes(near:),
                         fileSizeLimit: () -> Int64? = StorageFault.fileSizeLimit) -> StorageFault? {
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_FULL:
            return StorageFault(kind: .full, path: path, detail: detail)
        case .SQLITE_IOERR:
            guard FileManager.default.fileExists(atPath: path) else { return StorageFault(kind: .vanished, path: path, detail: detail) }
            // A write that found no room (the -wal, or the -shm a new connection maps) comes back
            // from SQLite as an I/O error: with (almost) no free space, it is the disk being full.
            // Only for the codes of writing and of growing a file: a read-only medium reports no
            // free space either, and its read errors are I/O errors.
            let growing: [ResultCode] = [.SQLITE_IOERR_WRITE, .SQLITE_IOERR_SHMSIZE, .SQLITE_IOERR_SHMMAP, .SQLITE_IOERR_SHMOPEN,
                                         .SQLITE_IOERR_TRUNCATE, .SQLITE_IOERR_FSYNC, .SQLITE_IOERR]
            let room = growing.contains(error.extendedResultCode) ? free(path) : nil
            // The process's file-size limit (`ulimit -f`, RLIMIT_FSIZE) refuses a write past it
            // with EFBIG, which SQLite reports as an I/O error too: a file of the log at the
            // limit is a size cap reached, not a failing disk.
            if growing.contains(error.extendedResultCode), let cap = fileSizeLimit(),
               let (file, size) = [path, Ledger.resolvingSymlink(path) + "-wal", Ledger.resolvingSymlink(path) + "-shm"].lazy.compactMap({ f in Ledger.fileSize(f).map { (f, Int64($0)) } })
                .first(where: { $0.1 + (64 << 10) >= cap }) {
                return StorageFault(kind: .full, path: path,
                                    detail: "\(detail); \((file as NSString).lastPathComponent) is \(text(bytes: size)), at the process's file-size limit (ulimit -f) of \(text(bytes: cap))",
                                    freeBytes: room ?? free(path))
            }
            return StorageFault(kind: (room ?? .max) < 64 << 10 ? .full : .io, path: path, detail: detail, freeBytes: room ?? free(path))
        case .SQLITE_READONLY:
            let moved = error.extendedResultCode == .SQLITE_READONLY_DBMOVED || !FileManager.default.fileExists(atPath: path)
            return StorageFault(kind: moved ? .vanished : .readOnly, path: path, detail: detail)
        default:
            return nil
        }
    }

    /// The process's limit on the size of a file it writes (RLIMIT_FSIZE) in bytes, nil when
    /// there is none.
    static func fileSizeLimit() -> Int64? {
        var l = rlimit()
        #if os(Linux)
        let resource = Int32(RLIMIT_FSIZE.rawValue)
        #else
        let resource = RLIMIT_FSIZE
        #endif
        guard getrlimit(resource, &l) == 0, l.rlim_cur != rlim_t.max else { return nil }  // RLIM_INFINITY
        return Int64(clamping: UInt64(l.rlim_cur))
    }

    /// Bytes available to unprivileged writers on the file system holding `path` (its folder
    /// when the file is gone); nil when that cannot be read.
    static func freeBytes(near path: String) -> Int64? {
        var s = statvfs()
        let folder = (path as NSString).deletingLastPathComponent
        for candidate in [path, folder.isEmpty ? "." : folder] where statvfs(candidate, &s) == 0 {
            return Int64(clamping: UInt64(s.f_bavail).multipliedReportingOverflow(by: UInt64(s.f_frsize)).partialValue)
        }
        return nil
    }

    /// `0 bytes`, `512 KB`, `1.5 GB`: free space for people.
    static func text(bytes: Int64) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB"]
        var value = Double(max(0, bytes)), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(Int(value)) bytes" }
        return (value < 10 ? String(format: "%.1f", value) : "\(Int(value.rounded()))") + " " + units[unit]
    }
}

extension Ledger {
    /// Sets the writer's `max_page_count` (see `LedgerConfiguration.maxPageCount`) and returns
    /// the limit now in force: a value below the file's size stops it where it is (a full log);
    /// nil lifts it (space freed). How tests make a log run out of room mid-run and recover.
    @discardableResult
    package func setMaxPageCount(_ pages: Int?) async throws(LedgerError) -> Int {
        // SQLite's own ceiling when lifted: 4294967294 pages.
        let limit = pages ?? 4_294_967_294
        do {
            return try await gatedWriteWithoutTransaction { db in
                try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(max(1, limit))") ?? 0
            }
        } catch { throw map(error) }
    }

    /// The file's size in pages, as the writer sees it (the `-wal` included).
    package func pageCount() async throws(LedgerError) -> Int {
        do {
            return try await gatedWriteWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        } catch { throw map(error) }
    }
}

/// Which file a path leads to: its device and inode.
struct FileNode: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
    }
}

extension Ledger {
    /// Throws a `vanished` storage fault when the log's path no longer leads to the file this
    /// ledger has open (it was moved or deleted): SQLite in WAL mode would go on committing
    /// into a file no one can open again. The engine and the projections look before each
    /// round of writes, and pause until the file is back.
    ///
    /// Its `-wal` and `-shm` too (at most every 250 ms): deleted under a live process, they take
    /// its commits where no one else sees them, and the events committed since the last
    /// checkpoint are lost when it exits. That pause does not end by itself: the files cannot
    /// come back.
    package func checkFileIsThere() throws(LedgerError) {
        // A closed ledger's companions are gone with its connections: that is no fault.
        if isClosed { throw .closed(path: path) }
        guard let opened = openedFile else { return }
        if FileNode(path: path) != opened {
            let detail = FileManager.default.fileExists(atPath: path) ? "another file is at its path now" : "no file at its path"
            throw .storageFault(StorageFault(kind: .vanished, path: path, detail: detail))
        }
        if let suffix = companions?.changed() { throw .storageFault(.lostCompanion(suffix, path: path)) }
    }
}
