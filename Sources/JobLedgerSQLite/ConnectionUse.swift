import Foundation

/// Counts the calls under way on a ledger's connections, so that `close()` closes them only
/// once none is, and refuses every call that comes after.
///
/// GRDB's own close is not enough: a read that has taken GRDB's reader pool but not yet one of
/// its connections waits for the close, then gets a connection the close has closed, and GRDB
/// hands SQLite its nil handle (a read racing `close()` crashed the test process with a bad
/// pointer inside libsqlite3). Here no call is inside GRDB when its close starts, and none
/// enters after.
final class ConnectionUse: @unchecked Sendable {
    // @unchecked: every field is read and written under `condition`'s lock.
    private let condition = NSCondition()
    private var closing = false
    private var inUse = 0

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
        while inUse > 0 { condition.wait() }
        condition.unlock()
    }

    /// Takes calls again: the close failed, and the ledger stays open.
    func reopen() {
        condition.lock()
        closing = false
        condition.unlock()
    }

    /// True from the start of a close (for tests).
    var isClosing: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closing
    }

    /// Calls under way, for tests.
    var callsUnderWay: Int {
        condition.lock()
        defer { condition.unlock() }
        return inUse
    }
}
