import Foundation
@testable import JobLedgerSQLite
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A log on a read-only mount (EROFS) could not be opened for writing, and the message said
/// "no permission to write it": an operator then looked at file modes, which were fine. The
/// reason is said as the system gives it; a log with no permission (EACCES) keeps its words.
/// (A read-only mount cannot be made everywhere the tests run, so the mapping is tested here;
/// ReadOnlyMountServeTests runs the real thing where it can.)
@Suite struct ReadOnlyFileSystemWordingTests {
    @Test func aReadOnlyFileSystemIsSaidAsSuch() {
        let log = Ledger.cannotWrite("ro/s.sqlite", folder: "ro", exists: true, reason: SystemReason(EROFS))
        #expect(log == "cannot open ro/s.sqlite: it is on a read-only file system, where nothing can be written", "\(log)")
        let folder = Ledger.cannotWrite("ro/new.sqlite", folder: "ro", exists: false, reason: SystemReason(EROFS))
        #expect(folder == "cannot open ro/new.sqlite: its folder ro is on a read-only file system, where nothing can be written", "\(folder)")
        #expect(SystemReason(EROFS).description.hasPrefix("a read-only file system (EROFS: "), "\(SystemReason(EROFS))")
    }

    @Test(arguments: [EACCES, EPERM])
    func noPermissionIsStillNoPermission(code: Int32) {
        let log = Ledger.cannotWrite("logs/s.sqlite", folder: "logs", exists: true, reason: SystemReason(code))
        #expect(log == "cannot open logs/s.sqlite: no permission to write it", "\(log)")
        let folder = Ledger.cannotWrite("logs/new.sqlite", folder: "logs", exists: false, reason: SystemReason(code))
        #expect(folder == "cannot open logs/new.sqlite: no permission to write in logs", "\(folder)")
        #expect(!log.contains("read-only") && !folder.contains("read-only"))
    }

    /// What `access(2)` says of a path, as `cannotOpen` asks it: nil for a folder that may be
    /// written, a reason for one that does not exist.
    @Test func unwritableAsksTheSystem() {
        let dir = FileManager.default.temporaryDirectory.path
        #expect(SystemReason.ofUnwritable(dir) == nil)
        #expect(SystemReason.ofUnwritable(dir + "/no-such-folder-\(UUID().uuidString)")?.code == ENOENT)
    }
}
