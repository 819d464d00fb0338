import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket connected to `127.0.0.1:port`; nil when the connection failed (`errno` says
/// why: `ECONNREFUSED` when nothing listens). The caller closes it.
public func connectToLoopback(port: Int) -> Int32? {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { return nil }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else {
        let saved = errno
        close(fd)
        errno = saved
        return nil
    }
    return fd
}

/// The status line of one `GET path` on the loopback `port` (with `Authorization: Bearer
/// bearer` when given, and `Connection: close`), read until the line ends.
public func loopbackStatusLine(port: Int, _ path: String, bearer: String? = nil) throws -> String {
    guard let fd = connectToLoopback(port: port) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
    defer { close(fd) }
    let auth = bearer.map { "Authorization: Bearer \($0)\r\n" } ?? ""
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(auth)Connection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while !received.contains(UInt8(ascii: "\n")) {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { break }
        received += buffer[0..<n]
    }
    return String(decoding: received, as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? ""
}
