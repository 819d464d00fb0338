import GRDB

extension Ledger {
    /// A read for async code that gives its reader connection back before the calling task runs
    /// again. GRDB's async `read` gives it back only once the awaiting task has resumed, on a
    /// thread of the cooperative pool; synchronous reads (`state(of:)`, the server's routes, the
    /// engine's claim round) wait for a reader on those same threads. With every thread of the
    /// pool (one per core) waiting for a reader, and every reader held by a task that needs one
    /// of those threads to give it back, nothing ran again: `serve` under a few dozen concurrent
    /// requests hung for good, `/healthz` and SIGTERM included. Here the reader is given back on
    /// its own queue, as soon as `body` returns.
    func asyncRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard use.enter() else { throw LedgerError.closed(path: path) }
        return try await withCheckedThrowingContinuation { continuation in
            pool.asyncRead { db in
                let result = Result { try body(db.get()) }
                self.use.leave()
                continuation.resume(with: result)
            }
        }
    }
}
