import Dispatch
import Synchronization
import Logging
import ServiceLifecycle

/// Verifies the log's hash chain in the background, so that a server on a tampered or damaged
/// log says so without anyone opening a job's history: once when it starts, then every
/// `interval`, a minute by default (carrying on from the last verified event, and over the
/// whole log again once ten minutes have passed, as `ChainStatus` does). It checked every ten
/// minutes, and `/readyz` said `verified` through a seq far behind the head for that long. The
/// cost is the same either way: each event is verified once, about 8 µs of a core. `/readyz`, `/metrics` and the dashboard show
/// what it found. A chain that does not verify, or a log it cannot read, is logged once as an
/// error when first found (and once more when it verifies again); so are integrity rules
/// dropped from the file (the triggers that refuse edits to events, the idempotency index,
/// `chain_rules`), and their return. Found first by a request (a job's history verifies the
/// chain too), it is logged then, and not again here (`ChainReport`).
///
/// It does not stop the server: the events before the break cannot be repaired by anything the
/// server does (the log is append-only), and readers still need the API and the dashboard to
/// look at them. New events go on being chained onto the head as stored.
public struct ChainWatch: Service {
    let server: JobLedgerServer
    let interval: Duration
    let logger: Logger

    /// A watch over `server`'s log, checking every `interval` (a minute by default; the whole
    /// log is verified again at `ChainStatus`'s own interval, ten minutes).
    public init(server: JobLedgerServer, interval: Duration = .seconds(60), logger: Logger) {
        self.server = server
        self.interval = interval
        self.logger = logger
    }

    /// Checks the chain now, then every `interval`, until graceful shutdown or cancellation. Never throws.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await check()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Verifies what is due (on a thread of its own: a whole log takes a while, and the
    /// cooperative pool serves the requests), says what is news in the log (`ChainReport`,
    /// shared with the requests that verify: what one of them said already is not said again),
    /// and returns what the chain's status now holds.
    ///
    /// Cancelled (the server stopping), it cuts the verification short within 4,096 events:
    /// waiting for a whole long log held a SIGTERM up for as long as `verify` takes (16 s for
    /// 300,000 events), at the start and at every full verification.
    @discardableResult
    func check() async -> ChainStatus.Latest {
        let chain = server.chain
        let logger = logger
        let stop = Mutex(false)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { done in
                DispatchQueue.global(qos: .utility).async {
                    _ = try? chain.verdict(logger: logger, stop: { stop.withLock { $0 } })
                    done.resume(returning: chain.latest)
                }
            }
        } onCancel: {
            stop.withLock { $0 = true }
        }
    }
}
