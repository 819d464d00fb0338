import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback port held by a listening socket, as another server would hold it, until the
/// value is released.
public final class ListeningSocket: Sendable {
    public let port: Int
    private let fd: Int32

    /// Listening on `address` (127.0.0.1 by default; any of 127.0.0.0/8 is loopback on Linux).
    public init(address: String = "127.0.0.1") throws {
        (fd, port) = try listenOnLoopback(address: address)
    }

    deinit { close(fd) }
}

/// A TCP socket listening on 127.0.0.1 on a port the system chose (close-on-exec, so no child
/// started meanwhile inherits it): its descriptor and port.
func listenOnLoopback(backlog: Int32 = 16, address: String = "127.0.0.1") throws -> (fd: Int32, port: Int) {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(address)
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    guard listening else {
        let code = errno
        close(fd)
        throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EADDRNOTAVAIL)
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}
