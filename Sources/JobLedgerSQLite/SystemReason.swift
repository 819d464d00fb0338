import Foundation

/// The operating system's reason for a failed call on a path, as people read it: its own words
/// (`strerror`) and the code's name, with what it means for the common ones. SQLite says only
/// "unable to open database file", and Foundation's helpers only whether a file is there; an
/// operator needs the cause (a symlink that leads back to itself is not a permission problem).
///
/// ```swift
/// SystemReason(ELOOP).description   // a symlink loop (ELOOP: Too many levels of symbolic links)
/// ```
package struct SystemReason: Error, Sendable, CustomStringConvertible {
    /// The `errno` value.
    package let code: Int32

    package init(_ code: Int32) { self.code = code }

    /// The reason `stat(2)` gives for `path`, or nil when it finds a file there or none at all
    /// (ENOENT: "no such log" is said by the caller, in its own words).
    package static func ofUnreachable(_ path: String) -> SystemReason? {
        var s = stat()
        guard stat(path, &s) != 0 else { return nil }
        let e = errno
        return e == ENOENT ? nil : SystemReason(e)
    }

    /// Why `path` may not be written (`access(2)` with `W_OK`), or nil when it may.
    package static func ofUnwritable(_ path: String) -> SystemReason? {
        access(path, W_OK) == 0 ? nil : SystemReason(errno)
    }

    /// What went wrong with a Foundation file call, as the system says it. Foundation on Linux
    /// describes a failed write as "The operation could not be completed. (NSCocoaErrorDomain
    /// error 512.)", or prints as `Error Domain=NSCocoaErrorDomain Code=640 …`, and keeps the
    /// cause underneath: a full disk, a file where a folder should be, no permission.
    package static func describing(_ error: any Error) -> String {
        let e = error as NSError
        // Held as a Swift error (POSIXError on Linux): `as? NSError` would not find it.
        guard let underlying = e.userInfo[NSUnderlyingErrorKey] as? any Error, (underlying as NSError).domain == NSPOSIXErrorDomain else {
            return e.localizedDescription
        }
        let text = String(cString: strerror(Int32((underlying as NSError).code)))
        guard let at = e.userInfo[NSFilePathErrorKey] as? String else { return text }
        return "\(text) (at \(at))"
    }

    /// Opens `path` for reading: its descriptor, or why not.
    package static func openForReading(_ path: String) -> Result<Int32, SystemReason> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? .success(fd) : .failure(SystemReason(errno))
    }

    package var description: String {
        let text = String(cString: strerror(code))
        switch code {
        case ELOOP: return "a symlink loop (ELOOP: \(text))"
        case EACCES: return "no permission (EACCES: \(text))"
        case EROFS: return "a read-only file system (EROFS: \(text))"
        case EPERM: return "not permitted (EPERM: \(text))"
        case ENOTDIR: return "a part of the path is not a folder (ENOTDIR: \(text))"
        case ENAMETOOLONG: return "the path is too long (ENAMETOOLONG: \(text))"
        case EIO: return "an I/O error (EIO: \(text))"
        case ENOENT: return "no such file (ENOENT: \(text))"
        case EISDIR: return "it is a folder (EISDIR: \(text))"
        case EMFILE, ENFILE: return "no file descriptors left (\(code == EMFILE ? "EMFILE" : "ENFILE"): \(text))"
        default: return "\(text) (errno \(code))"
        }
    }
}
