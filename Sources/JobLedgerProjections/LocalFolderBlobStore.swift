import Foundation
import JobLedger
import JobLedgerSQLite

/// The embedded default `BlobStore`: blobs are files under a folder, their URLs `file://`
/// URLs. Writes are atomic (a temporary file renamed into place), so a crash never leaves a
/// half-written artefact at a published URL.
///
/// ```swift
/// let store = LocalFolderBlobStore(path: "jobs.sqlite.blobs")
/// let runner = ProjectionRunner(ledger: ledger, blobs: store)
/// // artefacts land at jobs.sqlite.blobs/jobs/<id>/final-<sha256 prefix>.png
/// ```
public struct LocalFolderBlobStore: BlobStore {
    /// The folder blobs are written under.
    public let root: URL

    /// Uses (and creates when needed) the folder at `path`.
    public init(path: String) {
        root = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    /// The file for a pathname; refuses pathnames that could leave the folder.
    func file(_ pathname: String) throws(SinkError) -> URL {
        let parts = pathname.split(separator: "/", omittingEmptySubsequences: false)
        guard !pathname.isEmpty, !pathname.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw .rejected("blob pathname '\(pathname)' is not a relative path of plain names")
        }
        return root.appendingPathComponent(pathname)
    }

    /// Writes the file atomically (creating its folders) and returns its `file://` URL.
    /// A pathname that could leave the folder is `rejected`; a write that fails is `unavailable`.
    /// The write (which waits for the file to reach the disk) runs on a thread of its own, not
    /// on Swift's cooperative pool: several uploads wait for the disk at once.
    public func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
        let url = try file(pathname)
        let failure: String? = await withCheckedContinuation { done in
            DispatchQueue.global(qos: .utility).async {
                do {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try bytes.write(to: url, options: .atomic)
                    done.resume(returning: nil)
                } catch {
                    done.resume(returning: Self.reason(error))
                }
            }
        }
        if let failure { throw .unavailable("cannot write \(url.path): \(failure)") }
        return BlobInfo(pathname: pathname, url: url.absoluteString, size: Int64(bytes.count), contentType: contentType)
    }

    /// The file at `pathname`, or nil; its content type is guessed from the extension.
    public func head(pathname: String) async throws(SinkError) -> BlobInfo? {
        let url = try file(pathname)
        guard let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int else { return nil }
        return BlobInfo(pathname: pathname, url: url.absoluteString, size: Int64(size), contentType: Self.contentType(of: pathname))
    }

    /// Every file under the folder whose pathname starts with `prefix`, in pathname order.
    public func list(prefix: String) async throws(SinkError) -> [BlobInfo] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey]) else { return [] }
        var out: [BlobInfo] = []
        let base = root.path.hasSuffix("/") ? root.path : root.path + "/"
        for case let url as URL in walker {
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
            // Not a file an atomic write left half-made (the process killed before it was
            // renamed into place): Foundation names them `.dat.nosync…` beside their file.
            guard values?.isRegularFile == true, !Self.isUnfinishedWrite(url.lastPathComponent) else { continue }
            let path = String(url.standardizedFileURL.path.dropFirst(base.count))
            guard path.hasPrefix(prefix) else { continue }
            out.append(BlobInfo(pathname: path, url: url.standardizedFileURL.absoluteString, size: Int64(values?.fileSize ?? 0),
                                contentType: Self.contentType(of: path)))
        }
        return out.sorted { $0.pathname < $1.pathname }
    }

    /// Whether a file name is one Foundation's atomic write gives its bytes before renaming
    /// them into place: left behind when the process is killed in between.
    static func isUnfinishedWrite(_ name: String) -> Bool { name.hasPrefix(".dat.nosync") }

    /// Removes the file at `pathname`, if there is one.
    public func delete(pathname: String) async throws(SinkError) {
        let url = try file(pathname)
        do {
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        } catch {
            throw .unavailable("cannot delete \(url.path): \(Self.reason(error))")
        }
    }

    static func contentType(of pathname: String) -> String { BlobPathname.contentType(forPathname: pathname) }

    /// What went wrong, as the system says it (`SystemReason.describing`).
    static func reason(_ error: any Error) -> String { SystemReason.describing(error) }
}
