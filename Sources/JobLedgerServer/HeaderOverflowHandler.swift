import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose header fields are over the HTTP decoder's limits with 431 Request
/// Header Fields Too Large (RFC 6585 § 5) and a problem+json saying which limits, instead of
/// the bare 400 Hummingbird sends for every parse error: a client (a browser with a cookie
/// grown too big, a proxy adding headers) can tell "make the headers smaller" from "this is
/// not HTTP".
///
/// NIO's decoder reports every limit (the size of one field or of them all, their number, and
/// the URL, which it counts as a field) as the same `HTTPParserError.headerOverflow`, so a URL
/// over 80 KiB gets this 431 too, not 414 URI Too Long: the two cannot be told apart here; it fires the error down the pipeline, through this
/// handler, before Hummingbird's connection loop sees it. This handler then writes the 431 at
/// once, when no response is under way on the connection, and drops the 400 that Hummingbird
/// writes after it; the connection is closed as for any parse error. Added to each connection's
/// pipeline after HTTP decoding.
final class HeaderOverflowHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The limits the decoder enforces: Hummingbird's defaults, passed to it explicitly.
    static let limits = HTTP1Channel.Configuration.DecoderConfiguration()

    /// A response head was written and its end not yet.
    private var responding = false
    /// The 431 was written: what Hummingbird writes after it (its 400) goes nowhere.
    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !responding, !answered, let e = error as? HTTPParserError, e == .headerOverflow {
            answered = true
            let body = ByteBuffer(string: Self.problem.json.canonicalText)
            var head = HTTPResponse(status: .requestHeaderFieldsTooLarge)
            head.headerFields = BrowserGuard.headers
            head.headerFields[.contentType] = "application/problem+json"
            head.headerFields[.contentLength] = "\(body.readableBytes)"
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if answered {
            promise?.succeed(())
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }

    /// What the 431 says.
    static let problem = Problem(
        .requestHeaderFieldsTooLarge, "headers-too-large",
        "the request's header fields are over this server's limits (\(limits.maxHeaderFieldSize / 1024) KiB for one field, "
            + "or for all of them with the URL, \(limits.maxHeaderFieldCount) fields): send smaller ones "
            + "(a large Cookie is the usual cause; a URL that long counts against the same limits)")
}
