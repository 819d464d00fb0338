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
    /// How many uploads of one delivery run at once (8 by default).
    public let concurrentUploads: Int

    /// Publishes to `store` the artefacts staged in `ledger`, up to `concurrentUploads` at a
    /// time (at least 1).
    public init(store: any BlobStore, ledger: Ledger, concurrentUploads: Int = 8) {
        self.store = store
        self.ledger = ledger
        self.concurrentUploads = max(1, concurrentUploads)
    }

    /// No upload for an imported event: its artefact was published by the log it came from,
    /// and an export carries no asset bytes (taken in, it was a dead letter no re-drive clears).
    public var skipsImportedEvents: Bool { true }

    /// `upload`, in `replay --effects`.
    public var effectLabel: String { "upload" }

    /// One upload for a `lowres` or `completed` event that carries an asset, at its
    /// `BlobPathname`; nothing for other events.
    public func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        guard let (role, asset) = event.payload.publishedAsset else { return [] }
        return [OutboxDraft(target: BlobPathname(job: event.job, role: role, asset: asset).description, body: asset.jsonText)]
    }

    /// Uploads the items, up to `concurrentUploads` at a time (one at a time, a catch-up of
    /// 10,500 uploads to a local folder took 40 s, each waiting for its file to reach the disk,
    /// the process 85 % idle). What was uploaded is reported in order; of the items that failed,
    /// the first (in `seq` order) is the delivery's failure, and the others are left pending and
    /// due, handed over again with the next delivery (as the items after a failure were when the
    /// first failure stopped the batch).
    public func deliver(_ items: [OutboxItem]) async -> Delivery {
        var results = [Result<String, SinkError>?](repeating: nil, count: items.count)
        await withTaskGroup(of: (Int, Result<String, SinkError>).self) { group in
            var next = 0
            func start() {
                let i = next, item = items[i]
                next += 1
                group.addTask { (i, await self.upload(item)) }
            }
            while next < min(items.count, concurrentUploads) { start() }
            for await (i, result) in group {
                results[i] = result
                if next < items.count { start() }
            }
        }
        var delivered: [(item: OutboxItem, receipt: String?)] = []
        var failure: (error: SinkError, items: [OutboxItem])?
        var refused: [(item: OutboxItem, why: String)] = []
        for (item, result) in zip(items, results) {
            switch result! {
            case .success(let url): delivered.append((item, url))
            case .failure(let e):
                if failure == nil { failure = (e, [item]) }
                if case .rejected(let why) = e { refused.append((item, why)) }
            }
        }
        // The first failure refused for good: every item of the batch refused for good goes
        // with it, so that a log whose assets are not in it (restored from an export)
        // dead-letters a batch a delivery, not one upload a delivery (20 minutes for 237,701).
        if case .rejected? = failure?.error, refused.count > 1 {
            let others = refused.count - 1
            failure = (.rejected("\(refused[0].why) (and \(others) other item\(others == 1 ? "" : "s") of the batch refused for good)"), refused.map(\.item))
        }
        return Delivery(delivered: delivered, failure: failure)
    }

    /// One item's upload: the asset's bytes from the log, to the store; its URL.
    private func upload(_ item: OutboxItem) async -> Result<String, SinkError> {
        do {
            guard let asset = Self.asset(of: item.body) else { throw SinkError.rejected("outbox item \(item.seq) does not name an asset") }
            let bytes: Data
            do { bytes = try ledger.assetBytes(asset.sha256) } catch {
                // Only bytes that are not there are past retrying; a read that failed (no
                // file descriptor left, a busy or faulty disk) is tried again.
                guard case .unknownAsset = error else { throw SinkError.unavailable("the bytes of asset \(asset.sha256) could not be read: \(error)") }
                // Said in full: the dead letter's advice is a re-drive, which cannot help here.
                throw SinkError.rejected("the bytes of asset \(asset.sha256) are not staged in this log (a log made by import has none: an export carries no assets), so it cannot be uploaded from here and a re-drive fails the same way; the artefact is where the log it was exported from published it")
            }
            return .success(try await store.put(pathname: item.target, bytes: bytes, contentType: asset.contentType).url)
        } catch let e as SinkError {
            return .failure(e)
        } catch {
            return .failure(.unavailable("\(error)"))
        }
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
