import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose body's framing breaks (a chunk size that is not hex, bare LF
/// framing) once, and closes its connection. A route may answer before it reads the body (a
/// 401 for a bad token, a 429): Hummingbird then reads the rest of the body to reach the next
/// request, meets the broken framing, and writes a bare `400` of its own after the route's
/// answer, on the same connection, as if answering a request the client never sent. And the
/// route's answer did not say the connection was ending.
///
/// So once the decoder reports an error inside a request's body (after its head, before its
/// end), that request's answer is the connection's last: its head says `Connection: close`
/// (unless it was already written), the connection is closed after its end, and nothing
/// written after that goes out. When the answer was already complete as the error came, the
/// connection is closed at once. An error outside a body (a request line or header fields that
/// are not HTTP, or over the limits) is `ParseErrorHandler`'s to answer.
/// Added to each connection's pipeline after HTTP decoding.
final class BrokenBodyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Request heads read, and response heads and ends written, on this connection (a client may
    /// pipeline: answers go out in order).
    private var requestsRead = 0
    private var responsesStarted = 0
    private var responsesEnded = 0
    /// The last request read has a body still being read.
    private var inBody = false
    /// The number (1-based) of the request whose body broke: its answer is the last.
    private var lastAnswer: Int?
    /// The last answer has been written: what comes after goes nowhere.
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestsRead += 1
            inBody = true
        case .body:
            break
        case .end:
            inBody = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if inBody, lastAnswer == nil, error is HTTPParserError {
            lastAnswer = requestsRead
            inBody = false
            if responsesEnded >= requestsRead { closeNow(context) }
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if closing {
            promise?.succeed(())
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            responsesStarted += 1
            if let lastAnswer, responsesStarted == lastAnswer {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .head, .body:
            context.write(data, promise: promise)
        case .end:
            responsesEnded += 1
            guard let lastAnswer, responsesEnded >= lastAnswer else {
                context.write(data, promise: promise)
                return
            }
            closing = true
            context.writeLastAndClose(data, promise: promise)
        }
    }

    /// The broken request was answered already: nothing more goes out, and the connection ends.
    private func closeNow(_ context: ChannelHandlerContext) {
        closing = true
        context.flush()
        context.close(promise: nil)
    }
}
