import Foundation
import GRDBSQLite

/// What identifies the contents of a file without reading it: which file it is, its size and
/// when it was last written. A checkpoint into a log changes it; reading does not.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: UInt64
    var modified: Date

    /// The file at `path`, through symlinks (`stat`): Foundation's `attributesOfItem` gives a
    /// symlink's own, so a read without locks of a log reached through one never saw a writer
    /// change the file.
    init?(path: String) {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
        size = UInt64(s.st_size)
        modified = Date(timeIntervalSince1970: TimeInterval(s.st_mtim.tv_sec) + TimeInterval(s.st_mtim.tv_nsec) / 1e9)
    }
}

/// SQLite `file:` URIs, through which a read-only ledger asks SQLite not to create anything
/// beside the file (`mode=ro`, `immutable=1`).
enum SQLiteURI {
    /// GRDB opens connections without `SQLITE_OPEN_URI`, so SQLite reads a `file:` name as a
    /// URI only when the library was built with `SQLITE_USE_URI` (Debian's and Ubuntu's are).
    /// Without it, a read-only ledger opens the plain path read-only, and SQLite may create
    /// `-wal` and `-shm` files beside a log in WAL mode.
    static let isSupported: Bool = sqlite3_compileoption_used("USE_URI") == 1

    /// The name SQLite is given for the file at `path`, read as a path whatever it looks like:
    /// a relative `file:…` is a URI to a library built with `SQLITE_USE_URI` (`--db
    /// file:lit.sqlite` wrote to `lit.sqlite` while the readers read `file:lit.sqlite`), and
    /// `:memory:` an in-memory database; both get `./` in front. An absolute path never starts so.
    static func literal(_ path: String) -> String {
        path.hasPrefix("file:") || path == ":memory:" ? "./" + path : path
    }

    /// `file:///absolute/path?mode=ro[&immutable=1]`, with `%`, `?` and `#` escaped.
    static func readOnly(path: String, immutable: Bool) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var uri = Array("file://".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in absolute.utf8 {
            if b == UInt8(ascii: "%") || b == UInt8(ascii: "?") || b == UInt8(ascii: "#") {
                uri += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            } else {
                uri.append(b)
            }
        }
        uri += Array((immutable ? "?mode=ro&immutable=1" : "?mode=ro").utf8)
        return String(decoding: uri, as: UTF8.self)
    }
}
