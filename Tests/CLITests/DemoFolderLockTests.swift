import Foundation
import JobLedgerTestSupport
import Testing

/// Two `demo`s started at once in one folder both found the default log unused, and one removed
/// what the other was removing: "The file doesn't exist" from Foundation, exit 1 (which means a
/// failed verification). A demo on the default log now holds a lock on the folder; another one
/// is refused at once, exit 5, as a log in use by another process is.
@Suite struct DemoFolderLockTests {
    @Test func aDemoWhileAnotherHoldsTheFolderIsRefusedWithExit5() async throws {
        let scratch = Scratch()
        // What a running demo holds: the folder's lock.
        let held = open(scratch.url.path, O_RDONLY)
        defer { close(held) }
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
        let refused = try await jobledger(["demo", "--jobs", "1"], in: scratch)
        expectRefusal(refused, exit: 5, mentions: ["another jobledger demo is running in this folder"])
        #expect(!scratch.exists("jobledger-demo.sqlite"), "nothing was written")
        // Released: the demo runs.
        flock(held, LOCK_UN)
        let ran = try await jobledger(["demo", "--jobs", "1", "--fail-rate", "0"], in: scratch)
        #expect(ran.status == 0, "\(ran)")
    }
}
