import Foundation
import ServiceLifecycle
import UnixSignals

/// The last service of `serve`'s and `work`'s groups, so the first to hear of a graceful
/// shutdown (a group stops its services in reverse order): it says on stderr that the shutdown
/// has begun and what it waits for, then lets a second SIGINT or SIGTERM stop the process at
/// once. Without it `serve` said nothing until "stopped", and further Ctrl-Cs were ignored for
/// the whole drain.
struct ShutdownNotice: Service {
    /// What the shutdown waits for, after "stopping: ".
    let waitsFor: String
    /// A signal this soon after the first is the same press delivered twice. (It was half a
    /// second, which swallowed a quick double Ctrl-C without a word.)
    static let samePress: Duration = .milliseconds(100)

    func run() async throws {
        // Cancelled (the group stopping because a service failed, such as a port taken after
        // the check): no graceful shutdown to announce.
        do { try await gracefulShutdown() } catch { return }
        await Self.announce(waitsFor: waitsFor)
    }

    /// Says on stderr that the shutdown has begun and what it waits for, then lets a second
    /// SIGINT or SIGTERM stop the process at once (exit 130). Also what `work --until-idle` and
    /// `demo` call when a signal stops their worker (they have no notice service: their worker
    /// ends the group itself when idle, which is no shutdown to announce).
    static func announce(waitsFor: String) async {
        // Trapped only now: the first signal is the group's, and starts the graceful shutdown.
        let again = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup)
        let clock = ContinuousClock(), began = clock.now
        printErr("jobledger: stopping: \(waitsFor); a second Ctrl-C (or SIGTERM) stops at once")
        // Unstructured: the group waits for this service to return before it stops the next.
        Task.detached {
            for await signal in again {
                // A wrapper that passes the terminal's Ctrl-C on (`swift run`, and the terminal
                // itself) delivers one press twice, milliseconds apart: that is no second press.
                // A person's double press is further apart than this.
                if began.duration(to: clock.now) < Self.samePress { continue }
                printErr("jobledger: \(signal) again: stopping at once; attempts still running are taken up again "
                         + "once their leases pass, and the projections go on from their checkpoints next time")
                // No atexit handlers or destructors while SQLite and NIO threads still run: the
                // log is consistent at every commit, and this line was written with write(2).
                _exit(130)
            }
        }
    }
}
