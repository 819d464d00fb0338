import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Puts the authority of an absolute-form request target (`GET http://host/path HTTP/1.1`) in
/// the request's `Host` field, as RFC 9112 § 3.2.2 has a server do (the target's authority
/// replaces `Host`). The conversion to HTTP types keeps only the target's path and takes the
/// authority from `Host`, so without this `GET http://evil.example/api/jobs` with
/// `Host: 127.0.0.1` passed the loopback check (`BrowserGuard`) as a loopback request. A request
/// with several `Host` fields is left as it came: it is refused (400) for them.
///
/// It sits before the conversion (`HTTP1ToHTTPServerCodec`), which Hummingbird adds before the
/// connection's own handlers: `Installer`, one of those, puts it there.
final class AbsoluteFormAuthority: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), let authority = Self.authority(ofTarget: head.uri),
              head.headers["Host"].count <= 1 else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Host", value: authority)
        context.fireChannelRead(wrapInboundOut(.head(head)))
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

    /// One of the connection's own handlers (after the conversion): when added, it puts an
    /// `AbsoluteFormAuthority` before the conversion, then passes everything on.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        func handlerAdded(context: ChannelHandlerContext) {
            do {
                let codec = try context.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
                try context.pipeline.syncOperations.addHandler(AbsoluteFormAuthority(), position: .before(codec))
            } catch {
                // No conversion on this pipeline (not Hummingbird's HTTP/1 channel): nothing to correct.
            }
        }
    }
}
