import Foundation
import Synchronization
import UnixSignals

/// SIGINT and SIGTERM during an `import`. While the input is checked nothing has been written,
/// and the process ends at once (exit 130) saying so. Once the log is being written, the signal
/// is only noted: the import sees it before its next line (or its commit) and rolls back; into
/// a path where no log existed, the command removes the log it made. After the commit the
/// import has happened, and the signal is ignored while its report is printed. (Into an
/// existing log the default action ended the process without a word, exit 130 or 143.)
final class ImportInterrupt: Sendable {
    private enum Phase { case checking, writing, done }
    private struct State {
        var phase = Phase.checking
        var interrupted = false
    }
    private let state = Mutex(State())
    let path: String
    /// True when the import makes the log (none was at `path`).
    let makesTheLog: Bool

    private init(path: String, makesTheLog: Bool) {
        self.path = path
        self.makesTheLog = makesTheLog
    }

    /// Traps SIGINT and SIGTERM (their default action, which ended the process without a word
    /// and left a new log behind, is off from now on).
    static func install(path: String, makesTheLog: Bool) async -> ImportInterrupt {
        let interrupt = ImportInterrupt(path: path, makesTheLog: makesTheLog)
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        Task.detached { for await _ in signals { interrupt.received() } }
        return interrupt
    }

    /// True once a signal came while the log was being written.
    var isInterrupted: Bool { state.withLock { $0.interrupted } }

    /// The log is about to be created and written: a signal is left to the import from now on.
    func beginWriting() { state.withLock { $0.phase = .writing } }

    /// The import committed.
    func finished() { state.withLock { $0.phase = .done } }

    private func received() {
        state.withLock { s in
            switch s.phase {
            case .checking:
                // Under the lock, so that the log cannot begin meanwhile. No atexit handlers or
                // destructors: nothing of the import was written (an existing log may be open,
                // even mid-migration, which SQLite rolls back), and the line goes out with write(2).
                writeQuietly(makesTheLog ? "jobledger: interrupted while the input was checked: nothing was imported, and no log was created at \(path)\n"
                             : "jobledger: interrupted before the import wrote anything: nothing was imported into \(path)\n")
                _exit(130)
            case .writing where s.interrupted && !makesTheLog:
                // A second signal: the import may be waiting for another writer's lock (up to
                // --busy-timeout, which does not see the first). Its transaction is not
                // committed, so SQLite rolls it back when the process ends.
                writeQuietly("jobledger: interrupted again: nothing was imported into \(path) (its transaction is rolled back: the log is as it was)\n")
                _exit(130)
            case .writing: s.interrupted = true
            case .done: break
            }
        }
    }
}
