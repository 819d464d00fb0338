import Foundation
import Synchronization
import UnixSignals

/// SIGINT, SIGTERM and SIGHUP for the whole life of a command that runs a service group
/// (`work`, `serve`, `project`, `demo`), outside the group's own handling: before the group
/// traps them (opening the log, waiting for another writer's lock or for a full disk, queueing
/// the demo's jobs) and after it has ended (the demo's verification). Their default action
/// ended the process without a word, exit 143, against Operations.md § Signals; here the
/// process ends at once, exit 130, saying so. While the group runs, it handles them (a graceful
/// shutdown) and this does nothing.
enum CommandInterrupt {
    /// What a signal says now (after "jobledger: interrupted (SIGTERM) "); nil while the group
    /// handles signals.
    private static let saying = Mutex<String?>(nil)

    /// Traps the signals from now on, saying `what` when one comes (until `handOver()`).
    static func install(_ what: String) async {
        saying.withLock { $0 = what }
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup)
        Task.detached {
            for await signal in signals {
                guard let what = saying.withLock({ $0 }) else { continue }
                // No atexit handlers or destructors while SQLite may be mid-transaction: it rolls
                // back what was not committed, and the line goes out with write(2).
                writeQuietly("jobledger: interrupted (\(signal)) \(what)\n")
                _exit(130)
            }
        }
    }

    /// Says `what` from now on (the command moved on to another step).
    static func now(_ what: String) { saying.withLock { s in if s != nil { s = what } } }

    /// The service group traps the signals now (called from inside it, once it runs).
    static func handOver() { saying.withLock { $0 = nil } }

    /// The group has ended: a signal stops the process at once again, saying `what`; unless a
    /// graceful shutdown was announced, whose own listener already does (`ShutdownNotice`).
    static func takeBack(_ what: String) {
        guard !shutdownAnnounced.withLock({ $0 }) else { return }
        saying.withLock { $0 = what }
    }

    /// Set by `ShutdownNotice.announce`: its listener stops the process on the next signal.
    private static let shutdownAnnounced = Mutex(false)

    /// A graceful shutdown was announced (its listener handles the signals from now on).
    static func shutdownWasAnnounced() { shutdownAnnounced.withLock { $0 = true } }
}
