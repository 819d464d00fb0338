import Foundation

/// The deterministic place of a job's artefact in a blob store:
/// `jobs/<job-id>/<lowres|final>-<first 16 hex digits of its SHA-256>.<ext>`. The same asset of
/// the same job always lands at the same pathname, so a retried or replayed upload yields the
/// same URL.
public struct BlobPathname: Sendable, Hashable, CustomStringConvertible {
    public enum Role: String, Sendable, Hashable {
        case lowres, final
    }

    public let job: JobID
    public let role: Role
    public let asset: AssetRef

    public init(job: JobID, role: Role, asset: AssetRef) {
        self.job = job
        self.role = role
        self.asset = asset
    }

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
