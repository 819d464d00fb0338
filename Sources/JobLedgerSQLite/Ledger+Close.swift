import GRDB

/// Closing a ledger at a known point, rather than whenever the last reference to it goes.
extension Ledger {
    /// Closes the ledger's connections now; every later call on it fails. When no other
    /// connection has the log open (no other process, no other ledger on it), SQLite then
    /// copies the `-wal` into the file and removes the `-wal` and `-shm`, as
    /// `Docs/EventLog.md` § Checkpoints says the last connection to close does: the file alone
    /// is the whole log, and a copy of it (`cp`) is complete.
    ///
    /// Releasing the ledger does the same, but only once nothing refers to it any more: a
    /// task that still holds it when the process exits (an engine's timer, a display refresh)
    /// leaves every event since the last checkpoint in the `-wal`. A program that exits once
    /// its work is done calls this first.
    ///
    /// GRDB closes a pool's writer connection before its readers, so the writer is never the
    /// last to close and cannot remove the `-wal`; a connection that may write is therefore
    /// opened once more after them, and closed as the last one (`LockedRead`).
    ///
    /// ```swift
    /// let ledger = try Ledger.open(path: "jobs.sqlite")
    /// defer { try? ledger.close() }
    /// ```
    ///
    /// A read or write under way on another thread is waited for; every call made after the
    /// close has begun fails with `LedgerError.closed` and touches nothing. Do not call it from
    /// inside a `read` body, which it would wait for.
    ///
    /// - Throws: `LedgerError.storage` when SQLite could not close a connection; the ledger then
    ///   stays open and usable.
    public func close() throws(LedgerError) {
        guard !closed.withLock({ $0 }) else { return }
        // No background checkpoint may hold a connection of its own meanwhile.
        checkpointer?.close()
        // Calls under way end first, and later ones are told `.closed` before they reach GRDB
        // (`ConnectionUse`): GRDB hands a read that raced its close a closed connection.
        use.closeWhenIdle()
        do { try pool.close() } catch {
            use.reopen()
            throw map(error)
        }
        closed.withLock { $0 = true }
        if !isReadOnly || removesCreatedCompanions { LockedRead.closeAsLastConnection(path: path) }
    }
}
