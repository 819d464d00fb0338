import GRDB

/// SQLite's own check of the file's structure (`PRAGMA integrity_check`): every page of every
/// table and index is well formed, in range and used once, every index holds exactly its
/// table's rows, and no row breaks a NOT NULL constraint. Then what a read-only connection's
/// check leaves out: every CHECK constraint, asked of the rows (`CheckConstraints`), and the
/// file's size, a whole number of pages. `verify` runs it after its scan: the scan reads the
/// events table only, so a damaged page in an index or another table went unseen, and every
/// later write failed. (It ran `quick_check`, which compares no index with its table: a log
/// cut off by 100 bytes, with rows missing from two indexes, passed.)
extension Ledger {
    /// How many of SQLite's findings an error quotes.
    static let fileStructureFindingsQuoted = 5

    /// Runs the checks and throws `LedgerError.storage` (`… is damaged (SQLite: integrity_check:
    /// …); restore it …`) with the first findings when the file is damaged.
    ///
    /// ```swift
    /// try ledger.checkFileStructure()   // throws: storage error: jobs.sqlite is damaged (SQLite: integrity_check: Tree 4 page 4 cell 0: …)
    /// ```
    public func checkFileStructure() throws(LedgerError) {
        let limit = Self.fileStructureFindingsQuoted + 1
        var findings = try read { db in
            var found = try String.fetchAll(db, sql: "PRAGMA integrity_check(\(limit))")
            guard found == ["ok"] else { return found }
            // What a read-only connection's check leaves out (`CheckConstraints`), and a
            // closed log (no WAL holding pages of it) that is not a whole number of pages: cut
            // off (or added to) at its end. With frames in the WAL, a checkpoint stopped part
            // way may have left the file so, and SQLite reads those pages from the WAL.
            found = []
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            let companions = Self.resolvingSymlink(path)
            if pageSize > 0, (Self.fileSize(companions + "-wal") ?? 0) == 0, let size = Self.fileSize(path), size % pageSize != 0 {
                found.append("the file is \(size) bytes, not a whole number of its \(pageSize)-byte pages (cut off, or added to, at its end)")
            }
            if let damage = WALFrames.damage(path: companions + "-wal") { found.append(damage.description) }
            found += try CheckConstraints.findings(db, limit: limit - found.count)
            return found.isEmpty ? ["ok"] : found
        }
        guard findings != ["ok"] else { return }
        findings = Array(findings.prefix(limit))
        var quoted = findings.prefix(Self.fileStructureFindingsQuoted).joined(separator: "; ")
        if findings.count > Self.fileStructureFindingsQuoted { quoted += "; …" }
        throw .storage("\(path) is damaged (SQLite: integrity_check: \(quoted)); restore it from a backup or an export")
    }
}
