import GRDB
import GRDBSQLite

/// Runs a prepared statement with values bound straight through the SQLite C API. GRDB's
/// `execute(arguments:)` boxes every argument and checks observers on every step; on the hot
/// paths (the projections' per-event writes) that costs more than SQLite's own work.
package struct DirectBinding {
    let statement: OpaquePointer
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    package init(_ statement: Statement) {
        self.statement = statement.sqliteStatement
        sqlite3_reset(self.statement)
    }

    package func int(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    package func double(_ index: Int32, _ value: Double) { sqlite3_bind_double(statement, index, value) }

    package func text(_ index: Int32, _ value: String?) {
        guard var v = value else { sqlite3_bind_null(statement, index); return }
        v.withUTF8 { b in _ = b.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(statement, index, $0.baseAddress, Int32(b.count), DirectBinding.transient) } }
    }

    /// Binds UTF-8 bytes as TEXT.
    package func text(_ index: Int32, utf8 value: [UInt8]) {
        value.withUnsafeBufferPointer { b in
            _ = b.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(statement, index, $0.baseAddress, Int32(b.count), DirectBinding.transient) }
        }
    }

    /// Steps the statement to completion (a write) and resets it.
    package func run(_ db: Database) throws {
        let rc = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}
