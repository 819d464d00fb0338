import Dispatch
import Logging
import NIOCore
import Synchronization

/// How many connections `serve` holds at once: its open-file limit less the descriptors it
/// keeps for itself. Every connection, SSE stream included, is a descriptor; a server that let
/// them take the last ones could no longer open a reader of its log ("unable to open database
/// file"), and libdispatch and NIO trap (SIGILL) when they find none for their own use. A
/// connection past the cap is closed as soon as it is accepted (`ConnectionCapHandler`), and
/// the log says so at most once a minute.
public final class ConnectionCap: Sendable {
    /// Descriptors kept for the server's own use, counted on Linux from /proc/PID/fd: an idle
    /// `serve --workers 2` on 2 cores holds 27 that are not connections, under load 30 (the
    /// log's writer and pooled readers, 2 each, and its -shm; three per NIO event loop, one
    /// loop a core; signal and timer descriptors; stdio). Kept: 48, plus 4 a core, which leaves
    /// room for blob files, the adapters' own connections and a burst of accepts being closed.
    public static func reserve(coreCount: Int = System.coreCount) -> Int { 48 + 4 * coreCount }

    /// The most connections held at once.
    public let most: Int
    /// The open-file limit it was made from, and the descriptors kept: for the log line.
    public let openFileLimit: Int
    public let reserved: Int

    private let open = Atomic<Int>(0)
    private let refusedSinceSaid = Atomic<Int>(0)
    /// When the last refusal was logged (DispatchTime's uptime, ns); 0: never.
    private let lastSaid = Atomic<UInt64>(0)
    static let sayingEvery: UInt64 = 60_000_000_000

    public init(openFileLimit: Int, reserve: Int = ConnectionCap.reserve()) {
        self.openFileLimit = openFileLimit
        self.reserved = reserve
        self.most = max(0, openFileLimit - reserve)
    }

    /// Connections held now.
    public var current: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection in when there is room for it.
    func admit() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= most { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// A connection admitted has closed.
    func release() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// Notes a refused connection; logs one warning for all refused since the last one, at most
    /// once a minute.
    func refused(logger: Logger) {
        let count = refusedSinceSaid.wrappingAdd(1, ordering: .relaxed).newValue
        let now = DispatchTime.now().uptimeNanoseconds
        let last = lastSaid.load(ordering: .relaxed)
        guard last == 0 || now &- last >= Self.sayingEvery,
              lastSaid.compareExchange(expected: last, desired: max(now, 1), ordering: .relaxed).exchanged else { return }
        let since = max(count, refusedSinceSaid.exchange(0, ordering: .relaxed))
        let text = "\(since) connection\(since == 1 ? "" : "s") closed at once: \(most) are open, the most the open-file limit "
            + "(\(openFileLimit), \(reserved) kept for the log, threads and files) allows; raise the hard limit (ulimit -Hn) "
            + "to serve more (said at most once a minute)"
        logger.warning("\(text)")
    }
}

/// Counts a connection against the `ConnectionCap` while it is open, and closes it at once when
/// it is over the cap. One for each connection (it holds whether that one was counted).
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let cap: ConnectionCap
    let logger: Logger
    private var counted = false

    init(cap: ConnectionCap, logger: Logger) {
        self.cap = cap
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        counted = cap.admit()
        context.fireChannelActive()
        if !counted {
            cap.refused(logger: logger)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            cap.release()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Taken out of a pipeline that stays open: the connection is no longer counted here.
        if counted {
            counted = false
            cap.release()
        }
    }
}
