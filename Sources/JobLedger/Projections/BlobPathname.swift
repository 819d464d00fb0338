import Foundation

/// The deterministic place of a job's artefact in a blob store:
/// `jobs/<job-id>/<lowres|final>-<first 16 hex digits of its SHA-256>.<ext>`. The same asset of
/// the same job always lands at the same pathname, so a retried or replayed upload yields the
/// same URL.
///
/// ```swift
/// let path = BlobPathname(job: job, role: .final, asset: result)   // result: an AssetRef, image/png
/// print(path)   // jobs/<job>/final-0e7f108d4d9ad2c4.png
/// ```
public struct BlobPathname: Sendable, Hashable, CustomStringConvertible {
    /// Which artefact of the job it is.
    public enum Role: String, Sendable, Hashable {
        /// A preview, from a `lowres` event.
        case lowres
        /// The result, from a `completed` event.
        case final
    }

    /// The job the artefact belongs to.
    public let job: JobID
    /// Preview or result.
    public let role: Role
    /// The staged bytes (their digest names the file; their content type its extension).
    public let asset: AssetRef

    /// The pathname of `asset` as the job's `role` artefact.
    public init(job: JobID, role: Role, asset: AssetRef) {
        self.job = job
        self.role = role
        self.asset = asset
    }

    /// The pathname: `jobs/<job-id>/<role>-<sha256 prefix>.<ext>`.
    public var description: String {
        "jobs/\(job.rawValue)/\(role.rawValue)-\(asset.sha256.prefix(16)).\(Self.fileExtension(for: asset.contentType))"
    }

    /// Common artefact types and their file extensions (the first extension of a type is the
    /// one pathnames use).
    static let knownTypes: [(contentType: String, ext: String)] = [
        ("image/png", "png"), ("image/jpeg", "jpg"), ("image/jpg", "jpg"), ("image/webp", "webp"), ("image/gif", "gif"),
        ("image/svg+xml", "svg"), ("application/pdf", "pdf"), ("application/json", "json"), ("text/plain", "txt"),
    ]

    /// A file extension for a content type; `bin` when it is not a common one.
    public static func fileExtension(for contentType: String) -> String {
        let base = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return knownTypes.first { $0.contentType == base }?.ext ?? "bin"
    }

    /// The content type a pathname's extension stands for; `application/octet-stream` for others.
    public static func contentType(forPathname pathname: String) -> String {
        let ext = pathname.split(separator: ".").last.map { $0.lowercased() } ?? ""
        return knownTypes.first { $0.ext == ext }?.contentType ?? "application/octet-stream"
    }
}

extension JobState {
    /// Where the job's current preview and result are published (nil when it has none).
    public var artefactPathnames: (preview: BlobPathname?, result: BlobPathname?) {
        (preview.map { BlobPathname(job: id, role: .lowres, asset: $0) }, result.map { BlobPathname(job: id, role: .final, asset: $0) })
    }
}

extension EventPayload {
    /// The artefact this event publishes, if any: a `lowres` preview or a `completed` result.
    public var publishedAsset: (role: BlobPathname.Role, asset: AssetRef)? {
        switch self {
        case .lowres(let l): (.lowres, l.asset)
        case .completed(let c): c.asset.map { (.final, $0) }
        case .queued, .started, .progress, .failed, .canceled: nil
        }
    }
}
