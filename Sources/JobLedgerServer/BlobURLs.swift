import Foundation
import JobLedger

/// The artefact URLs this server gives its clients, one rule for every answer: on a server with
/// a blob folder, an artefact of the folder store is its `/blobs/<pathname>` path here when the
/// file is in that folder, and null when it is not; a URL of another store is given as
/// recorded. A `file://` URL, which names a path on the server, never reaches a client: a
/// server with no folder (blobs published elsewhere, Vercel Blob) gives the other stores' URLs
/// as recorded and null for a `file://` one (a log whose earlier artefacts went to a folder).
///
/// Broadcast messages (SSE streams, `/api/live`, the history's `message`) carry the URL the
/// blob projection recorded: `file://` under the folder the log was written beside. It used
/// to be mapped by replacing this server's folder prefix, which missed whenever the log is
/// served from another path (a symbolic link, a copy, a moved file): the client got the
/// writer's absolute path, while `GET /api/jobs/{id}` (`published`) gave `/blobs/…` or null.
struct BlobURLs: Sendable {
    let folder: String?
    /// The keys of a broadcast message that hold artefact URLs (`Docs/Broadcast.md`).
    static let urlKeys = ["preview_url", "result_url"]

    init(folder: String?) {
        self.folder = folder
    }

    /// The URL of a pathname published in the folder (nil when the file is not there yet).
    func published(_ pathname: String?) -> String? {
        guard let pathname, let folder else { return nil }
        return FileManager.default.fileExists(atPath: folder + "/" + pathname) ? "/blobs/" + pathname : nil
    }

    /// A recorded artefact URL of `job` as a client is given it: a `file://` URL as its pathname
    /// (`jobs/<job>/<file>`, `BlobPathname`) `published` here, whatever folder it was written
    /// under (null on a server with no folder); any other URL unchanged.
    func client(_ url: String?, job: String) -> String? {
        guard let url else { return nil }
        guard Self.isFileURL(url) else { return url }
        guard let path = URL(string: url)?.path, !job.isEmpty else { return nil }
        let name = (path as NSString).lastPathComponent
        let pathname = "jobs/\(job)/\(name)"
        guard !name.isEmpty, name != "/", path.hasSuffix("/" + pathname) else { return nil }
        return published(pathname)
    }

    /// A broadcast message's text with its artefact URLs (`preview_url`, `result_url`) as
    /// `client` gives them. A message with no `file:` in it (the common case: no artefact yet,
    /// or another store) is sent as it is, with no JSON parse; one that cannot be read as an
    /// object (never written by the broadcast projection) is sent as `null` rather than risk a
    /// server path.
    func message(_ text: String) -> String {
        guard text.range(of: "file:", options: .caseInsensitive) != nil else { return text }
        guard var value = try? JSONValue(parsing: text), case .object(var o) = value else { return "null" }
        let job = o["job"]?.stringValue ?? ""
        for key in Self.urlKeys {
            guard case .string(let s)? = o[key], Self.isFileURL(s) else { continue }
            o[key] = client(s, job: job).map(JSONValue.string) ?? .null
        }
        value = .object(o)
        return value.canonicalText
    }

    /// Whether a URL names a file on the server (`file:`, in any case).
    static func isFileURL(_ url: String) -> Bool {
        url.utf8.count >= 5 && url.utf8.prefix(5).map { $0 | 0x20 }.elementsEqual("file:".utf8)
    }
}
