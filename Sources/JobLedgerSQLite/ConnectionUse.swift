import Foundation
import Synchronization

/// Counts the reads under way on a ledger's connections (and the synchronous writes that do
/// not check the handle themselves: an import, folding the WAL), so that `close()` closes them
/// only once none is, and refuses every one that comes after.
///
/// GRDB's own close is not enough: a read that has taken GRDB's reader pool but not yet one of
/// its connections waits for the close, then gets a connection the close has closed, and GRDB
/// hands SQLite its nil handle (a read racing `close()` crashed the test process with a bad
/// pointer inside libsqlite3). Here no read is inside GRDB when its close starts, and none
/// enters after. Async writes are not counted: the close would wait, on a thread of the
/// cooperative pool, for tasks that need such a thread to resume (two closes at once on two
/// cores hung); GRDB closes the writer on its queue, after the writes queued before it, and a
/// write queued after is refused by `Ledger.handle(_:)`.
final class ConnectionUse: @unchecked Sendable {
    // @unchecked: every field is read and written under `condition`'s lock.
    private let condition = NSCondition()
    private var closing = false
    private var inUse = 0
    /// `closing`, read without the lock (every append asks).
    private let closingFlag = Atomic<Bool>(false)

    /// Counts a call in; false once the ledger is closing or closed (the call must not touch
    /// the connections). A true answer must be followed by `leave()`.
    func enter() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closing else { return false }
        inUse += 1
        return true
    }

    func leave() {
        condition.lock()
        inUse -= 1
        if inUse == 0, closing { condition.broadcast() }
        condition.unlock()
    }

    /// Refuses every later call and waits for the calls under way to end.
    func closeWhenIdle() {
        condition.lock()
        closing = true
        closingFlag.store(true, ordering: .releasing)
        while inUse > 0 { condition.wait() }
        condition.unlock()
    }

    /// Takes calls again: the close failed, and the ledger stays open.
    func reopen() {
        condition.lock()
        closing = false
        closingFlag.store(false, ordering: .releasing)
        condition.unlock()
    }

    /// True from the start of a close: what an uncounted write asks before it begins.
    var isClosing: Bool { closingFlag.load(ordering: .acquiring) }

    /// Calls under way, for tests.
    var callsUnderWay: Int {
        condition.lock()
        defer { condition.unlock() }
        return inUse
    }
}
