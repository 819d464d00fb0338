import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Settles which name a request is for before the conversion to HTTP types, as RFC 9112 § 3.2
/// has a server do:
/// - the authority of an absolute-form target (`GET http://host/path HTTP/1.1`) replaces the
///   `Host` field (§ 3.2.2). The conversion keeps only the target's path and takes the authority
///   from `Host`, so without this `GET http://evil.example/api/jobs` with `Host: 127.0.0.1`
///   passed the loopback check (`BrowserGuard`) as a loopback request. A request with several
///   `Host` fields is left as it came: it is refused (400) for them.
/// - an HTTP/1.1 request without `Host` is marked (`missingHostMarker`), and `BrowserGuard`
///   refuses it (400; § 3.2: "A server MUST respond with a 400"). After the conversion a missing
///   `Host` and an HTTP/1.0 request without one look the same, so it is told here. The marker is
///   removed from whatever a client sends, so only this handler sets it.
///
/// It sits before the conversion (`HTTP1ToHTTPServerCodec`), which Hummingbird adds before the
/// connection's own handlers: `BeforeConversion`, one of those, puts it there.
final class RequestAuthority: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// Set on an HTTP/1.1 request that came without `Host` (and removed from any that came with it).
    static let missingHostMarker = "JobLedger-Internal-Missing-Host"

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        // One pass over the names, without allocating (it runs for every request).
        var hosts = 0, marked = false
        for (name, _) in head.headers {
            if name.utf8.count == 4, name.lowercased() == "host" { hosts += 1 }
            else if name.utf8.count == Self.missingHostMarker.utf8.count, name.lowercased() == Self.missingHostMarker.lowercased() { marked = true }
        }
        var changed = false
        if marked {
            head.headers.remove(name: Self.missingHostMarker)
            changed = true
        }
        if let authority = Self.authority(ofTarget: head.uri), hosts <= 1 {
            head.headers.replaceOrAdd(name: "Host", value: authority)
            changed = true
        } else if hosts == 0, head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) {
            head.headers.add(name: Self.missingHostMarker, value: "1")
            changed = true
        }
        context.fireChannelRead(changed ? wrapInboundOut(.head(head)) : data)
    }

    /// The authority of an absolute-form target (`scheme://authority[/path][?query]`), or nil
    /// for any other form (origin-form `/path`, asterisk-form `*`, or an absolute URI without
    /// an authority).
    static func authority(ofTarget target: String) -> String? {
        guard let first = target.utf8.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*"),
              let separator = target.range(of: "://") else { return nil }
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 § 3.1)
        let scheme = Array(target[..<separator.lowerBound].utf8)
        let letter = { (b: UInt8) in (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) }
        guard let s = scheme.first, letter(s), scheme.allSatisfy({ letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || Array("+-.".utf8).contains($0) })
        else { return nil }
        let rest = target[separator.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        return String(rest[..<end])
    }
}
