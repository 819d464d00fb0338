import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

extension JobLedgerServer {
    /// The Hummingbird application serving `router()` on `host:port` (port 0: any free port).
    /// It is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` beside the engine
    /// and the projections. `onRunning` gets the port actually bound. Idle connections close
    /// after `idleTimeout`; a client that takes longer than `requestTimeout` to send a request's
    /// head and body has its connection closed. A request the decoder cannot read gets a problem:
    /// 431 for header fields over its limits, 505 for a version it does not read, else 400
    /// (`ParseErrorHandler`). An absolute-form target's authority is the request's `Host`
    /// (`RequestAuthority`). HTTP/1.0 requests are answered as HTTP/1.0, connections kept or
    /// closed as RFC 9112 § 9.3 says, and `Expect: 100-continue` answered (`ConnectionPersistence`).
    /// A request whose body's framing breaks is answered once, and its connection closed
    /// (`BrokenBodyHandler`).
    /// Connections past `connectionCap` are closed at once.
    public func application(host: String, port: Int, logger: Logger,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol & Service {
        let requestTimeout = self.requestTimeout.map(TimeAmount.init), cap = connectionCap
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: Self.connectionHandlers(requestTimeout: requestTimeout, cap: cap, logger: logger),
            idleTimeout: idleTimeout.map(TimeAmount.init), httpDecoderConfiguration: ParseErrorHandler.limits)
        return Application(router: router(), server: .http1(configuration: configuration),
                    configuration: .init(address: .hostname(host, port: port), serverName: "jobledger"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// A new connection's own handlers (a handler holds one connection's state: made for each).
    static func connectionHandlers(requestTimeout: TimeAmount?, cap: ConnectionCap? = nil, logger: Logger? = nil) -> [any RemovableChannelHandler] {
        var handlers: [any RemovableChannelHandler] = []
        // First: a connection over the cap is closed before the others set anything up.
        if let cap { handlers.append(ConnectionCapHandler(cap: cap, logger: logger ?? Logger(label: "jobledger.serve"))) }
        handlers += [BeforeConversion(RequestAuthority()), BeforeConversion(ConnectionPersistence()), ParseErrorHandler(), BrokenBodyHandler()]
        if let requestTimeout { handlers.append(RequestDeadlineHandler(deadline: requestTimeout)) }
        return handlers
    }
}
