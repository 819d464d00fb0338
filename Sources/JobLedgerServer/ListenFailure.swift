#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Why the server cannot listen on `host:port`, said in one line with what to do, instead of
/// NIO's `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`.
public struct ListenFailure: Error, CustomStringConvertible, Sendable {
    /// The host it tried to listen on (`--host`).
    public let host: String
    /// The port it tried to listen on (`--port`).
    public let port: Int
    /// What is wrong and what to do.
    public let reason: String

    /// `cannot listen on <host>:<port>: <reason>`, an IPv6 host in brackets.
    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host  // an IPv6 literal, as in a URL
        return "cannot listen on \(shown):\(port): \(reason)"
    }

    /// Binds a plain socket to `host:port` as the server will (the same name resolution, and
    /// SO_REUSEADDR, as Hummingbird sets it) and closes it at once, so that a port already in
    /// use is said before anything else starts. Port 0 (any free port) is tried too: it binds
    /// any free port there and lets it go, so a `--host` that does not resolve or is not one of
    /// this machine's addresses is said before the log is opened, as with a fixed port. Another
    /// process may still take the port before the server binds it: then `init?(_:host:port:)`
    /// says the same of the server's error.
    public static func check(host: String, port: Int) throws(ListenFailure) {
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw ListenFailure(host: host, port: port, reason: "the host name does not resolve; check --host")
        }
        #if canImport(Glibc)
        let fd = socket(address.protocol.rawValue, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(address.protocol.rawValue, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return }  // no socket to try with: left to the server
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard address.withSockAddr({ bind(fd, $0, socklen_t($1)) }) != 0 else { return }
        if let failure = ListenFailure(host: host, port: port, errno: errno) { throw failure }
    }

    /// The failure the server's own bind (or listen) error is (NIO's `IOError`, which names the
    /// call), when it is one of those `check` reports; nil for any other error, such as an
    /// outgoing connection's.
    public init?(_ error: any Error, host: String, port: Int) {
        guard let e = error as? IOError, e.description.hasPrefix("bind(") || e.description.hasPrefix("listen(") else { return nil }
        self.init(host: host, port: port, errno: e.errnoCode)
    }

    private init?(host: String, port: Int, errno code: Int32) {
        switch code {
        case EADDRINUSE: reason = "the address is already in use (another server?); choose another --port"
        case EACCES: reason = "permission denied (a port below 1024 needs privileges); choose another --port"
        case EADDRNOTAVAIL: reason = "the address is not one of this machine's; check --host"
        default: return nil
        }
        self.host = host
        self.port = port
    }

    private init(host: String, port: Int, reason: String) {
        self.host = host
        self.port = port
        self.reason = reason
    }
}
