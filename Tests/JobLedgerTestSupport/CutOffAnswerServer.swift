import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback HTTP server whose every answer is cut off: it reads the whole request, answers
/// `200` with `Content-Length: declaredLength` but sends only `sent`, and closes the connection.
/// It serves on a thread of its own until `stop()`.
public final class CutOffAnswerServer: Sendable {
    public let port: Int
    private let fd: Int32

    public init(declaredLength: Int = 1000, sent: String = #"{"result":"T0s="}   "#) throws {
        let (fd, port) = try listenOnLoopback()
        self.fd = fd
        self.port = port
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(declaredLength)\r\n\r\n\(sent)".utf8)
        Thread {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 {
                    if errno == EINTR { continue }
                    close(fd)  // stopped: the listening socket is closed here, where it is no longer used
                    return
                }
                Self.readRequest(c)
                _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }.start()
    }

    /// Stops accepting (the serving thread closes the socket).
    public func stop() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Reads the head and as many body bytes as `Content-Length` says (a request left unread
    /// would make the close a reset instead of an orderly end).
    private static func readRequest(_ c: Int32) {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var needed: Int?
        while needed.map({ data.count < $0 }) ?? true {
            let got = read(c, &chunk, chunk.count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { return }
            data += chunk[0..<got]
            if needed == nil, let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                needed = end.upperBound + length
            }
        }
    }
}
