import NIOCore
import NIOHTTPTypesHTTP1

/// One of a connection's own handlers, which Hummingbird adds after the conversion to HTTP types
/// (`HTTP1ToHTTPServerCodec`): when added, it puts `handler` before the conversion, where a
/// request's HTTP/1 head (its version, its target as sent) is still there, then passes
/// everything on. What `RequestAuthority` and `ConnectionPersistence` are installed by.
final class BeforeConversion: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let handler: any ChannelHandler

    /// `handler` is one connection's: make one for each.
    init(_ handler: any ChannelHandler) { self.handler = handler }

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            let codec = try context.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
            try context.pipeline.syncOperations.addHandler(handler, position: .before(codec))
        } catch {
            // No conversion on this pipeline (not Hummingbird's HTTP/1 channel): nothing to do.
        }
    }
}
