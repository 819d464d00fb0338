import GRDB

/// SQLite's own check of the file's structure (`PRAGMA quick_check`): every page of every
/// table and index is well formed, in range and used once, and no row breaks a NOT NULL or
/// CHECK constraint. It does not compare an index with its table (`integrity_check` does, at
/// several times the cost). `verify` runs it after its scan: the scan reads the events table
/// only, so a damaged page in an index or another table went unseen, and every later write
/// failed.
extension Ledger {
    /// How many of SQLite's findings an error quotes.
    static let fileStructureFindingsQuoted = 5

    /// Runs `PRAGMA quick_check` and throws `LedgerError.storage` (`… is damaged (SQLite
    /// quick_check: …); restore it …`) with SQLite's first findings when the file is damaged.
    ///
    /// ```swift
    /// try ledger.checkFileStructure()   // throws: storage error: jobs.sqlite is damaged (SQLite: quick_check: Tree 4 page 4 cell 0: …)
    /// ```
    public func checkFileStructure() throws(LedgerError) {
        let findings = try read { db in
            try String.fetchAll(db, sql: "PRAGMA quick_check(\(Self.fileStructureFindingsQuoted + 1))")
        }
        guard findings != ["ok"] else { return }
        var quoted = findings.prefix(Self.fileStructureFindingsQuoted).joined(separator: "; ")
        if findings.count > Self.fileStructureFindingsQuoted { quoted += "; …" }
        throw .storage("\(path) is damaged (SQLite: quick_check: \(quoted)); restore it from a backup or an export")
    }
}
