import Foundation
import GRDB
import JobLedger

/// A projection's own failure (its code threw, or its SQL failed), told apart from the
/// storage's, and kept in its row of `projections` for its status until a batch applies.
extension LedgerError {
    /// Result codes of SQL that is wrong in itself (a missing table or column, a broken
    /// constraint, a value of the wrong type): the projection's failure, not the storage's.
    private static let codesOfWrongSQL: [ResultCode] = [.SQLITE_ERROR, .SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_RANGE, .SQLITE_TOOBIG]

    /// What an error thrown by a projection's own code (`StateProjection.apply`) is: the
    /// projection's failure, named and with the error's description, unless it is the
    /// storage's (a full disk, a lock, a damaged file …), which stays what `Ledger` makes of it.
    ///
    /// ```swift
    /// do { try p.apply(events, states: states, db: db) } catch { throw LedgerError.thrown(by: p.name, error) }
    /// ```
    package static func thrown(by projection: ProjectionName, _ error: any Error) -> any Error {
        if error is LedgerError || error is CancellationError { return error }
        if let e = error as? DatabaseError, !codesOfWrongSQL.contains(e.resultCode) { return error }
        return LedgerError.projectionFailed(projection: projection.rawValue, reason: "\(error)")
    }
}

extension Ledger {
    /// Keeps why a projection failed in its row (made if it has none), for its status: a
    /// failed batch rolled back everything it wrote, its row included. The next batch it
    /// applies clears it. Best effort: when this cannot be written either, the failure is
    /// still thrown to whoever ran the step.
    package func recordProjectionFailure(_ name: ProjectionName, reason: String) async {
        guard schemaVersion >= 7, !isReadOnly else { return }
        let now = configuration.clock().milliseconds
        _ = try? await gatedWrite { db in
            try Ledger.ensureProjection(db, name, now: now)
            try db.execute(sql: "UPDATE projections SET last_error = ? WHERE name = ?", arguments: [String(reason.prefix(500)), name.rawValue])
        }
    }
}
