import Foundation
import Hummingbird
import Logging
import NIOPosix

/// The blob folder's files as `/blobs/…` serves them: only regular files that lie inside the
/// folder once every symbolic link on their path is resolved. Hummingbird's `LocalFileSystem`
/// refuses `..` in a URL but follows links, so a link placed in the folder (by a blob store
/// writing through a shared mount, or by hand) could serve any file the server may read, the
/// log itself included. Folders are not listed or redirected to; they are not found.
struct BlobFolderFiles: FileProvider {
    typealias FileAttributes = LocalFileSystem.FileAttributes
    typealias FileIdentifier = String

    private let files: LocalFileSystem
    /// The folder's own real path, ending in "/" (nil while the folder does not exist yet).
    private let folder: String

    init(folder: String, logger: Logger) {
        files = LocalFileSystem(rootFolder: folder, threadPool: .singleton, logger: logger)
        self.folder = folder
    }

    func getFileIdentifier(_ path: String) -> String? {
        // A NUL would end the path where the system reads it (`x.png%00.html` is x.png), while
        // the content type comes from the whole URL: no control character is a blob's name.
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }),
              let candidate = files.getFileIdentifier(path),
              let root = Self.realPath(folder), let real = Self.realPath(candidate),
              real.hasPrefix(root.hasSuffix("/") ? root : root + "/")
        else { return nil }
        return real
    }

    func getAttributes(id: String) async throws -> FileAttributes? {
        // Regular files only: not a folder, and not a FIFO or a device (opening a FIFO would
        // block a thread of the shared pool until a writer came).
        var info = stat()
        guard stat(id, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return try await files.getAttributes(id: id)
    }

    func loadFile(id: String, context: some RequestContext) async throws -> ResponseBody {
        try await files.loadFile(id: id, context: context)
    }

    func loadFile(id: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody {
        try await files.loadFile(id: id, range: range, context: context)
    }

    /// `path` with every link, `.` and `..` resolved; nil when it does not exist.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
