import Foundation
import JobLedgerSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which other process has the SQLite database at `path` open, if one can tell: the first
/// process found holding one of SQLite's locks on it. A connection in WAL mode holds a shared
/// lock on the `-shm` (its "dead man switch" byte) for as long as it is open; one in another
/// journal mode holds a lock on the file's lock bytes while it reads or writes. Readers that
/// take no locks (SQLite's `immutable=1`) are not seen. The probe asks (`F_GETLK`) and takes no
/// lock; this process must have no SQLite connection on the file (closing the descriptor of the
/// probe would release its locks).
func processUsingLog(_ path: String) -> pid_t? {
    let path = Ledger.resolvingSymlink(path)  // SQLite's companions lie beside a symlink's target
    // The -shm's lock slots (offset 120, eight of them) and the switch byte after them; the
    // database file's pending, reserved and shared bytes at 1 GiB.
    let probes: [(file: String, start: off_t, length: off_t)] = [(path + "-shm", 120, 9), (path, 0x4000_0000, 512)]
    for probe in probes {
        let fd = open(probe.file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = probe.start
        lock.l_len = probe.length
        if fcntl(fd, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) { return lock.l_pid }
    }
    return nil
}
