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
/// over 80 KiB gets this 431 too, not 414 URI Too Long: the two cannot be told apart here. The
/// decoder fires the error down the pipeline, through this handler, before Hummingbird's
/// connection loop sees it. This handler writes the 431 once every request read before it has
/// been answered (at once, unless the client pipelined), and drops the 400 that Hummingbird
/// writes after it; the connection is closed as for any parse error. Added to each connection's
/// pipeline after HTTP decoding.
final class HeaderOverflowHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The limits the decoder enforces: Hummingbird's defaults, passed to it explicitly.
    static let limits = HTTP1Channel.Configuration.DecoderConfiguration()

    /// Request heads read, and responses ended, on this connection: a client may send a request
    /// before the answer to the one before it has come (pipelining). The 431 answers the request
    /// whose header fields overflowed, so it waits until every request read before it has had its
    /// whole answer; written at once, it would read as the answer to an earlier request, whose
    /// own answer (a 202 for a job queued, say) would then be dropped.
    private var requestsRead = 0
    private var responsesEnded = 0
    /// The overflow was reported while answers were still owed: the 431 goes after them.
    private var owed = false
    /// The 431 was written: what Hummingbird writes after it (its 400) goes nowhere.
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { requestsRead += 1 }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !answered, !owed, let e = error as? HTTPParserError, e == .headerOverflow {
            if responsesEnded == requestsRead { answer(context) } else { owed = true }
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if answered {
            promise?.succeed(())
            return
        }
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data) {
            responsesEnded += 1
            if owed, responsesEnded == requestsRead { answer(context) }
        }
    }

    /// Writes the 431 (and nothing after it).
    private func answer(_ context: ChannelHandlerContext) {
        answered = true
        owed = false
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

    /// What the 431 says.
    static let problem = Problem(
        .requestHeaderFieldsTooLarge, "headers-too-large",
        "the request's header fields are over this server's limits (\(limits.maxHeaderFieldSize / 1024) KiB for one field, "
            + "or for all of them with the URL, \(limits.maxHeaderFieldCount) fields): send smaller ones "
            + "(a large Cookie is the usual cause; a URL that long counts against the same limits)")
}
