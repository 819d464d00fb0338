import Foundation
import GRDB
import JobLedger

extension Ledger {
    /// Stages bytes beside the log, addressed by their SHA-256, and returns the reference an
    /// event carries. Staging the same bytes twice stores them once (and renews their
    /// staging time, so `pruneOrphanAssets` leaves them alone while an event is on its way).
    ///
    /// ```swift
    /// let preview = try await ledger.stageAsset(pngBytes, contentType: "image/png")
    /// _ = try await ledger.append(NewEvent(job: job, payload: .lowres(.init(asset: preview, attempt: 1))))
    /// ```
    ///
    /// A handler run by `JobEngine` does not call this itself: `JobContext.lowres` and a returned
    /// `JobCompletion` with bytes stage them.
    public func stageAsset(_ bytes: Data, contentType: String) async throws(LedgerError) -> AssetRef {
        let ref = AssetRef(sha256: Digest.sha256Hex(bytes), size: Int64(bytes.count), contentType: contentType)
        let now = configuration.clock().milliseconds
        do {
            try await gatedWrite { db in
                try db.execute(
                    sql: """
                        INSERT INTO assets (sha256, size, content_type, bytes, staged_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (sha256) DO UPDATE SET staged_at = max(staged_at, excluded.staged_at)
                        """,
                    arguments: [ref.sha256, ref.size, ref.contentType, bytes, now])
            }
        } catch { throw map(error) }
        return ref
    }

    /// The staged bytes of an asset; throws `unknownAsset` when they are not in this log.
    ///
    /// ```swift
    /// if let result = try await ledger.state(of: job)?.result {   // the AssetRef of `completed`
    ///     let png = try ledger.assetBytes(result.sha256)
    ///     try png.write(to: URL(fileURLWithPath: "result.png"))
    /// }
    /// ```
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

    /// Removes staged assets that no event references and that were staged before
    /// `stagedBefore`: the bytes of an attempt whose `completed` or `lowres` was never recorded
    /// (it lost its claim, or its process died in between). The engine runs this periodically
    /// (`JobEngine.Options.assetPrune`); the grace period keeps bytes that another worker has
    /// just staged for an event it is about to append. Returns how many assets and bytes were
    /// removed.
    ///
    /// The log is scanned in a read snapshot, which never holds up appends; the delete then
    /// re-checks only the events appended since.
    @discardableResult
    public func pruneOrphanAssets(stagedBefore cutoff: Timestamp) async throws(LedgerError) -> (count: Int, bytes: Int64) {
        let referenced = "type IN ('lowres', 'completed') AND json_extract(payload, '$.asset.sha256')"
        let (candidates, head): ([String], Int64) = try read { db in
            let head = try Ledger.fetchHead(db)?.seq ?? 0
            let rows = try String.fetchAll(db, sql: """
                SELECT sha256 FROM assets WHERE staged_at < ?
                  AND sha256 NOT IN (SELECT json_extract(payload, '$.asset.sha256') FROM events WHERE \(referenced) IS NOT NULL)
                """, arguments: [cutoff.milliseconds])
            return (rows, head)
        }
        if candidates.isEmpty { return (0, 0) }
        do {
            return try await gatedWrite { db in
                var count = 0
                var bytes: Int64 = 0
                for sha in candidates {
                    let size = try Int64.fetchOne(db, sql: """
                        DELETE FROM assets WHERE sha256 = ? AND staged_at < ?
                          AND NOT EXISTS (SELECT 1 FROM events WHERE seq > ? AND \(referenced) = ?)
                        RETURNING size
                        """, arguments: [sha, cutoff.milliseconds, head, sha])
                    if let size { count += 1; bytes += size }
                }
                return (count, bytes)
            }
        } catch { throw map(error) }
    }
}
