import JobLedgerSQLite

/// Closes a log a command opened to write, before the process exits (`Ledger.close()`).
/// Releasing the ledger closes it only once nothing refers to it: a task still holding it
/// when the process exits (a display refresh, an engine's timer) left every event since the
/// last checkpoint in the `-wal`, and a `cp` of the file alone was "not a JobLedger log".
/// Called in a `defer` right after the open, so that every way out of the command closes it.
func closeLog(_ ledger: Ledger) {
    do {
        try ledger.close()
    } catch {
        printErr("jobledger: warning: \(ledger.path) could not be closed now (\(error)); its newest events stay in its -wal until the next jobledger that writes it closes it")
    }
}
