import Foundation

/// A file that takes its name only once whole: written beside its path under a hidden staging
/// name, then given the name by a hard link, which, unlike a rename, never replaces a file that
/// appeared there meanwhile. A write that fails, or a process killed or interrupted meanwhile,
/// leaves nothing at the path (`replay --into`, `export --output`).
public enum StagedFile {
    /// Where the file for `path` is written before it has its name: beside it, hidden, named
    /// after this process.
    public static func stagingPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
    }

    /// Makes the empty staging file for `path`, exclusively (one a killed run of this process id
    /// left, and its journal, is removed first), and returns its path. Refused when `path`
    /// exists already, saying `why` (why it is never replaced).
    public static func begin(_ path: String, why: String = defaultWhy) throws(LedgerError) -> String {
        if FileManager.default.fileExists(atPath: path) { throw alreadyThere(path, why) }
        let staging = stagingPath(for: path)
        unlink(staging); unlink(staging + "-journal")
        removeLeftovers(for: path)
        let fd = open(staging, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw .storage("cannot write \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        return staging
    }

    /// Gives the finished staging file its name `path`, and removes the staging name.
    public static func publish(_ staging: String, as path: String, why: String = defaultWhy) throws(LedgerError) {
        let linked = link(staging, path) == 0 ? 0 : errno
        unlink(staging)
        if linked == EEXIST { throw alreadyThere(path, why) }
        if linked != 0 { throw .storage("cannot write \(path): \(String(cString: strerror(linked)))") }
    }

    /// Removes what runs for `path` killed before they finished left (`.NAME.partial-PID` and
    /// its journal or WAL files, from a process that is gone): a `kill -9` leaves them, and they were never
    /// removed. A staging file of a process still running (another run writing the same path)
    /// is left alone.
    static func removeLeftovers(for path: String) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).partial-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            var digits = name.dropFirst(prefix.count)
            for suffix in ["-journal", "-wal", "-shm"] where digits.hasSuffix(suffix) { digits = digits.dropLast(suffix.count) }
            guard let pid = pid_t(digits), pid > 0, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(folder + "/" + name)
        }
    }

    public static let defaultWhy = "it is written as a new file, and never replaces one"

    static func alreadyThere(_ path: String, _ why: String) -> LedgerError {
        .storage("\(path) already exists; \(why)")
    }
}
