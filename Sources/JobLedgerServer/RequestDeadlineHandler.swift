import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client takes longer than `deadline` to send one request, from its
/// head to the end of its body. The idle timeout alone cannot: every byte of a body resets it,
/// so a client that trickled a body one byte a minute held its connection (and a descriptor)
/// for as long as it liked. Added to each connection's pipeline after HTTP decoding; what it
/// sees are whole heads, body chunks and ends, so a stalled head is the idle timeout's.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let deadline: TimeAmount
    /// When the request in progress began (its head arrived); nil between requests.
    private var began: NIODeadline?
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            began = .now()
        case .body:
            break
        case .end:
            began = nil
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    /// The timer is set only for a request whose end has not arrived with the bytes read so far:
    /// most requests (a GET, a small body) arrive whole in one read, and set none.
    func channelReadComplete(context: ChannelHandlerContext) {
        if let began, timer == nil {
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: began + deadline) {
                loopContext.value.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
