import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP decoder could not read with a problem+json, instead of the bare
/// 400 Hummingbird sends for every parse error, so that a client can tell what to change:
/// - header fields over the decoder's limits: 431 Request Header Fields Too Large (RFC 6585 § 5),
///   `headers-too-large`, saying which limits. NIO's decoder reports every limit (the size of one
///   field or of them all, their number, and the URL, which it counts as a field) as the same
///   `HTTPParserError.headerOverflow`, so a URL over 80 KiB gets this 431 too, not 414 URI Too
///   Long: the two cannot be told apart here.
/// - a version the decoder does not read (`HTTP/1.2`, `HTTP/2.0` in HTTP/1 framing): 505 HTTP
///   Version Not Supported, `unsupported-version`, saying to send HTTP/1.1. (RFC 9110 § 2.5
///   asks a server to read an unknown 1.x minor version as 1.1; NIO's decoder refuses it before
///   anything here sees the request, so the answer at least says what to send.)
/// - any other error in a request line or header fields (a method, target or field that is
///   not HTTP): 400 `malformed-request`, naming what the decoder found.
/// An error inside a request's body is `BrokenBodyHandler`'s: that request's answer is the route's.
///
/// The decoder fires the error down the pipeline, through this handler, before Hummingbird's
/// connection loop sees it. This handler writes its answer once every request read before it
/// has been answered (at once, unless the client pipelined), and drops the 400 that Hummingbird
/// writes after it; the connection is closed as for any parse error. Added to each connection's
/// pipeline after HTTP decoding.
final class ParseErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
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
    /// The last request read has a body still being read (an error there is not this handler's).
    private var inBody = false
    /// The error was reported while answers were still owed: its answer goes after them.
    private var owed: Problem?
    /// The answer was written: what Hummingbird writes after it (its 400) goes nowhere.
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestsRead += 1
            inBody = true
        case .end: inBody = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !answered, owed == nil, let e = error as? HTTPParserError, let problem = Self.problem(for: e, inBody: inBody) {
            if responsesEnded == requestsRead { answer(problem, context) } else { owed = problem }
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
            if let owed, responsesEnded == requestsRead { answer(owed, context) }
        }
    }

    /// The answer to a decoder's error, or nil for one inside a body (`BrokenBodyHandler`'s).
    static func problem(for error: HTTPParserError, inBody: Bool) -> Problem? {
        switch error {
        case .headerOverflow: return overflow
        case .invalidVersion: return unsupportedVersion
        default:
            guard !inBody else { return nil }
            return Problem(.badRequest, "malformed-request",
                           "the request is not HTTP/1.1 this server can read (\(error.debugDescription)): check the request line and the header fields")
        }
    }

    /// Writes the answer (and nothing after it).
    private func answer(_ problem: Problem, _ context: ChannelHandlerContext) {
        answered = true
        owed = nil
        let body = ByteBuffer(string: problem.json.canonicalText)
        var head = HTTPResponse(status: problem.status)
        head.headerFields = BrowserGuard.headers
        head.headerFields[.contentType] = "application/problem+json"
        head.headerFields[.contentLength] = "\(body.readableBytes)"
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// What the 505 says.
    static let unsupportedVersion = Problem(
        .httpVersionNotSupported, "unsupported-version",
        "the request's HTTP version is not one this server reads: send HTTP/1.1 (or HTTP/1.0)")

    /// What the 431 says.
    static let overflow = Problem(
        .requestHeaderFieldsTooLarge, "headers-too-large",
        "the request's header fields are over this server's limits (\(limits.maxHeaderFieldSize / 1024) KiB for one field, "
            + "or for all of them with the URL, \(limits.maxHeaderFieldCount) fields): send smaller ones "
            + "(a large Cookie is the usual cause; a URL that long counts against the same limits)")
}
