import NIOCore

extension ChannelHandlerContext {
    /// Writes and flushes the end of a connection's last answer, then closes the connection once
    /// it is written; `promise` completes with the write. What `ConnectionPersistence` (a
    /// request that asked to close) and `BrokenBodyHandler` (a request whose body broke) do with
    /// the answer that ends the connection.
    func writeLastAndClose(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        let written = writeAndFlush(data)
        let channel = self.channel
        written.whenComplete { _ in channel.close(promise: nil) }
        if let promise { written.cascade(to: promise) }
    }
}
