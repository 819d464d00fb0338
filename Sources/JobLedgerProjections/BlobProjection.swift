import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// Publishes every staged artefact (a `lowres` preview, a `completed` result) to a `BlobStore`
/// at its deterministic pathname, `jobs/<id>/<role>-<sha256 prefix>.<ext>`, so a retried or
/// replayed upload lands at the same place. The URL each upload gets is recorded (table
/// `blobs`, and the job's row in `jobs`) for the broadcast and the jobs table.
///
/// `ProjectionRunner(ledger:blobs:…)` registers it for you; register it yourself only with
/// `ProjectionRunner(ledger:state:effects:options:)`, before the broadcast projection.
public struct BlobProjection: EffectProjection {
    /// `blob`.
    public let name = ProjectionName.blob
    /// Where artefacts are published.
    public let store: any BlobStore
    let ledger: Ledger

    /// Publishes to `store` the artefacts staged in `ledger`.
    public init(store: any BlobStore, ledger: Ledger) {
        self.store = store
        self.ledger = ledger
    }

    /// `upload`, in `replay --effects`.
    public var effectLabel: String { "upload" }

    /// One upload for a `lowres` or `completed` event that carries an asset, at its
    /// `BlobPathname`; nothing for other events.
    public func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        guard let (role, asset) = event.payload.publishedAsset else { return [] }
        return [OutboxDraft(target: BlobPathname(job: event.job, role: role, asset: asset).description, body: asset.jsonText)]
    }

    /// Uploads the items one by one; the first failure stops the batch there.
    public func deliver(_ items: [OutboxItem]) async -> Delivery {
        var delivered: [(item: OutboxItem, receipt: String?)] = []
        for item in items {
            do {
                guard let asset = Self.asset(of: item.body) else { throw SinkError.rejected("outbox item \(item.seq) does not name an asset") }
                let bytes: Data
                do { bytes = try ledger.assetBytes(asset.sha256) } catch {
                    // Only bytes that are not there are past retrying; a read that failed (no
                    // file descriptor left, a busy or faulty disk) is tried again.
                    guard case .unknownAsset = error else { throw SinkError.unavailable("the bytes of asset \(asset.sha256) could not be read: \(error)") }
                    throw SinkError.rejected("the bytes of asset \(asset.sha256) are not staged in this log")
                }
                let blob = try await store.put(pathname: item.target, bytes: bytes, contentType: asset.contentType)
                delivered.append((item, blob.url))
            } catch let e as SinkError {
                return Delivery(delivered: delivered, failure: (e, [item]))
            } catch {
                return Delivery(delivered: delivered, failure: (.unavailable("\(error)"), [item]))
            }
        }
        return Delivery(delivered: delivered)
    }

    /// Keeps each upload's URL (and puts it in the job's row), with the items marked sent.
    public func recordDelivered(_ receipts: [(item: OutboxItem, receipt: String)], db: Database) throws {
        for (item, url) in receipts {
            guard let asset = Self.asset(of: item.body) else { continue }
            let role = item.type == .lowres ? BlobPathname.Role.lowres : .final
            try db.execute(sql: "INSERT OR REPLACE INTO blobs (pathname, job_id, role, sha256, url, seq, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [item.target, item.job.rawValue, role.rawValue, asset.sha256, url, item.seq,
                                       ledger.configuration.clock().milliseconds])
            let column = role == .lowres ? "preview" : "result"
            try db.execute(sql: "UPDATE jobs SET \(column)_url = ? WHERE id = ? AND \(column)_sha256 = ?",
                           arguments: [url, item.job.rawValue, asset.sha256])
        }
    }

    /// The URL the artefact at pathname `target` was published at, if it was.
    public func receipt(for target: String, db: Database) throws -> String? { try Self.url(db, pathname: target) }
    /// Every published URL, by pathname.
    public func receipts(db: Database) throws -> [String: String] { try Self.urls(db) }
    /// The URL the store gives the pathname, when it knows it without the network (Vercel Blob).
    public func plannedReceipt(for target: String) -> String? { store.publicURL(for: target) }

    /// `content type, size, sha256 prefix`, in `replay --effects`.
    public func summary(of draft: OutboxDraft) -> String {
        guard let a = Self.asset(of: draft.body) else { return draft.body }
        return "\(a.contentType), \(a.size) bytes, sha256 \(a.sha256.prefix(16))…" + (store.publicURL(for: draft.target).map { " → \($0)" } ?? "")
    }

    /// `{"seq", "effect": "upload", "pathname", "sha256", "size", "content_type"}`.
    public func json(of draft: OutboxDraft, seq: Int64) -> JSONValue {
        guard let a = Self.asset(of: draft.body) else { return .object(["seq": .int(seq), "effect": "upload", "pathname": .string(draft.target)]) }
        var o: [String: JSONValue] = ["seq": .int(seq), "effect": "upload", "pathname": .string(draft.target),
                                      "sha256": .string(a.sha256), "size": .int(a.size), "content_type": .string(a.contentType)]
        if let url = store.publicURL(for: draft.target) { o["url"] = .string(url) }
        return .object(o)
    }

    /// The asset an item's body names.
    static func asset(of body: String) -> AssetRef? {
        guard let v = try? JSONValue(parsing: body), let sha = v["sha256"]?.stringValue, let size = v["size"]?.intValue,
              let ct = v["content_type"]?.stringValue else { return nil }
        return AssetRef(sha256: sha, size: size, contentType: ct)
    }

    static func url(_ db: Database, pathname: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT url FROM blobs WHERE pathname = ?"), arguments: [pathname])
    }

    static func urls(_ db: Database) throws -> [String: String] {
        var m: [String: String] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT pathname, url FROM blobs") { m[r[0]] = r[1] }
        return m
    }
}

extension Ledger {
    /// Every published artefact's URL by blob pathname (empty before the blob projection ran).
    ///
    /// ```swift
    /// if let state = try await ledger.state(of: job), let path = state.artefactPathnames.result {
    ///     print(try ledger.blobURLs()[path.description] ?? "not published yet")
    /// }
    /// ```
    public func blobURLs() throws(LedgerError) -> [String: String] {
        guard hasProjections else { return [:] }
        return try readSnapshot { db in try BlobProjection.urls(db) }
    }
}

extension AssetRef {
    /// The reference as canonical JSON (a blob outbox item's body).
    var jsonText: String {
        JSONValue.object(["sha256": .string(sha256), "size": .int(size), "content_type": .string(contentType)]).canonicalText
    }
}
