import Synchronization

/// Keeps the synchronous append fast path from ever waiting on GRDB's writer queue. The fast
/// path commits on the caller's thread, a thread of Swift's cooperative pool: it may only do so
/// when no other write of this ledger (staging an asset, a projection batch, an import,
/// `VACUUM INTO`) holds or waits for the writer connection. Other writes are async and may
/// wait; they wait here, suspended, for the few microseconds a fast commit takes.
final class WriteGate: Sendable {
    private struct State {
        /// A fast-path commit holds the writer.
        var fast = false
        /// Other writes in flight or queued on the writer.
        var writers = 0
        /// Writes waiting for a fast-path commit to end.
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Enters the fast path when nothing else uses the writer; false means "take the async
    /// path instead". A true answer must be followed by `leaveFast()`.
    func tryEnterFast() -> Bool {
        state.withLock { s in
            guard !s.fast, s.writers == 0 else { return false }
            s.fast = true
            return true
        }
    }

    func leaveFast() {
        let waiting = state.withLock { s in
            s.fast = false
            s.writers += s.waiting.count  // they enter now, in order
            defer { s.waiting.removeAll() }
            return s.waiting
        }
        for c in waiting { c.resume() }
    }

    /// Counts an async write in, suspending while a fast-path commit holds the writer.
    func enter() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.fast { s.waiting.append(c); return false }
                s.writers += 1
                return true
            }
            if now { c.resume() }
        }
    }

    /// Counts a write in without waiting (a synchronous caller that may block its own thread,
    /// such as an import run by the command line).
    func enterBlocking() { state.withLock { $0.writers += 1 } }

    func leave() { state.withLock { $0.writers -= 1 } }

    /// Writes in flight or queued, for tests.
    var writersInFlight: Int { state.withLock { $0.writers } }
}
