import Foundation
import GRDB
import JobLedger

extension Ledger {
    /// Stages bytes beside the log, addressed by their SHA-256, and returns the reference an
    /// event carries. Staging the same bytes twice stores them once.
    public func stageAsset(_ bytes: Data, contentType: String) async throws(LedgerError) -> AssetRef {
        let ref = AssetRef(sha256: Digest.sha256Hex(bytes), size: Int64(bytes.count), contentType: contentType)
        let now = configuration.clock().milliseconds
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT OR IGNORE INTO assets (sha256, size, content_type, bytes, staged_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [ref.sha256, ref.size, ref.contentType, bytes, now])
            }
        } catch { throw map(error) }
        return ref
    }

    /// The staged bytes of an asset; throws `unknownAsset` when they are not in this log.
    public func assetBytes(_ sha256: String) throws(LedgerError) -> Data {
        let data = try read { db in try Data.fetchOne(db, sql: "SELECT bytes FROM assets WHERE sha256 = ?", arguments: [sha256]) }
        guard let data else { throw .unknownAsset(sha256: sha256) }
        return data
    }

    /// Number of staged assets and their total size in bytes.
    public func assetTotals() throws(LedgerError) -> (count: Int, bytes: Int64) {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM assets")!
            return (row[0], row[1])
        }
    }
}
