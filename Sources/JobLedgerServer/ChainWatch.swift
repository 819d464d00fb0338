import Dispatch
import Logging
import ServiceLifecycle

/// Verifies the log's hash chain in the background, so that a server on a tampered or damaged
/// log says so without anyone opening a job's history: once when it starts, then every
/// `interval` (carrying on from the last verified event, and over the whole log again once ten
/// minutes have passed, as `ChainStatus` does). `/readyz`, `/metrics` and the dashboard show
/// what it found. A chain that does not verify, or a log it cannot read, is logged once as an
/// error when first found (and once more when it verifies again); so are integrity rules
/// dropped from the file (the triggers that refuse edits to events, the idempotency index,
/// `chain_rules`), and their return.
///
/// It does not stop the server: the events before the break cannot be repaired by anything the
/// server does (the log is append-only), and readers still need the API and the dashboard to
/// look at them. New events go on being chained onto the head as stored.
public struct ChainWatch: Service {
    let server: JobLedgerServer
    let interval: Duration
    let logger: Logger

    /// A watch over `server`'s log, checking every `interval` (ten minutes by default: the
    /// interval of `ChainStatus`'s full re-check).
    public init(server: JobLedgerServer, interval: Duration = .seconds(600), logger: Logger) {
        self.server = server
        self.interval = interval
        self.logger = logger
    }

    /// Checks the chain now, then every `interval`, until graceful shutdown or cancellation. Never throws.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var said: String?, saidRules: String?
            while !Task.isCancelled {
                let found = await check()
                said = report(found, after: said)
                saidRules = reportRules(found, after: saidRules)
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Verifies what is due (on a thread of its own: a whole log takes a while, and the
    /// cooperative pool serves the requests) and returns what the chain's status now holds.
    func check() async -> ChainStatus.Latest {
        let chain = server.chain
        return await withCheckedContinuation { done in
            DispatchQueue.global(qos: .utility).async {
                _ = try? chain.verdict()
                done.resume(returning: chain.latest)
            }
        }
    }

    /// Logs `found` when it differs from what was last said; returns what is said now.
    func report(_ found: ChainStatus.Latest, after said: String?) -> String? {
        let now: String?
        switch found {
        case .unchecked: return said
        case .verdict(let v):
            now = v.brokenAt.map { "the log's hash chain does not verify at seq \($0): \(v.problem ?? ""); serve goes on answering and recording, but the history from there on cannot be trusted: run jobledger verify on the log, and restore it from a backup or an export" }
        case .unreadable(let error):
            now = "the log's hash chain could not be verified: \(error); serve goes on answering and recording: run jobledger verify on the log"
        }
        if let now, now != said {
            logger.error("\(now)")
        } else if now == nil, said != nil {
            logger.warning("the log's hash chain verifies again")
        }
        return now
    }

    /// Logs the integrity rules `found` removed when they differ from what was last said (and
    /// once when they are all back); returns what is said now. A log that could not be read, or
    /// not yet checked, says nothing new about them.
    func reportRules(_ found: ChainStatus.Latest, after said: String?) -> String? {
        guard case .verdict(let v) = found else { return said }
        let now: String? = v.removedRules.isEmpty ? nil : "the log's integrity rules were removed behind its back: \(v.removedRules.joined(separator: ", ")); "
            + "the database no longer refuses changes they refused, so edits to recorded events would show only in the hash chain; serve goes on answering and recording: "
            + "run jobledger verify on the log, and restore it from a backup or an export"
        if let now, now != said {
            logger.error("\(now)")
        } else if now == nil, said != nil {
            logger.warning("the log's integrity rules are all in place again")
        }
        return now
    }
}
