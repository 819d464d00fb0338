import Foundation
import JobLedger
import ServiceLifecycle
import UnixSignals

/// The last service of `serve`'s, `work`'s and `project`'s groups, so the first to hear of a graceful
/// shutdown (a group stops its services in reverse order): it says on stderr that the shutdown
/// has begun and what it waits for, then lets a second SIGINT or SIGTERM stop the process at
/// once. Without it `serve` said nothing until "stopped", and further Ctrl-Cs were ignored for
/// the whole drain.
struct ShutdownNotice: Service {
    /// What the shutdown waits for, after "stopping: ".
    let waitsFor: String
    /// The attempts running now (`JobEngine.runningAttempts`; none without workers): a second
    /// signal names those it leaves to their leases.
    let running: @Sendable () -> [(job: JobID, attempt: Int)]
    /// A signal this soon after the first is the same press delivered twice. (It was half a
    /// second, which swallowed a quick double Ctrl-C without a word.)
    static let samePress: Duration = .milliseconds(100)

    /// Said on stderr as the service starts: once the group traps SIGINT and SIGTERM, so that
    /// what reads it may stop the run at once (`project`'s "keeping … up with …").
    var startNote: String? = nil

    func run() async throws {
        CommandInterrupt.handOver()
        if let startNote { printErr(startNote) }
        // Cancelled (the group stopping because a service failed, such as a port taken after
        // the check): no graceful shutdown to announce.
        do { try await gracefulShutdown() } catch { return }
        await Self.announce(waitsFor: waitsFor, running: running)
    }

    /// Says on stderr that the shutdown has begun and what it waits for, then lets a second
    /// SIGINT or SIGTERM stop the process at once (exit 130). Also what `work --until-idle` and
    /// `demo` call when a signal stops their worker (they have no notice service: their worker
    /// ends the group itself when idle, which is no shutdown to announce).
    static func announce(waitsFor: String, running: @escaping @Sendable () -> [(job: JobID, attempt: Int)]) async {
        // Trapped only now: the first signal is the group's, and starts the graceful shutdown.
        let again = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup)
        CommandInterrupt.shutdownWasAnnounced()
        let clock = ContinuousClock(), began = clock.now
        printErr("jobledger: stopping: \(waitsFor); a second Ctrl-C (or SIGTERM) stops at once")
        // Unstructured: the group waits for this service to return before it stops the next.
        Task.detached {
            for await signal in again {
                // A wrapper that passes the terminal's Ctrl-C on (`swift run`, and the terminal
                // itself) delivers one press twice, milliseconds apart: that is no second press.
                // A person's double press is further apart than this.
                if began.duration(to: clock.now) < Self.samePress { continue }
                printErr(Self.stoppingAtOnce(signal: "\(signal)", running: running()))
                // No atexit handlers or destructors while SQLite and NIO threads still run: the
                // log is consistent at every commit, and this line was written with write(2).
                _exit(130)
            }
        }
    }

    /// Attempts named one by one in the line a second signal prints; past them, a count.
    static let namedAttempts = 10

    /// The line a second signal prints: which attempts are left to their leases (job id and
    /// attempt, the first `namedAttempts`, then "and N more"), as Operations.md § Signals says.
    static func stoppingAtOnce(signal: String, running: [(job: JobID, attempt: Int)]) -> String {
        let left: String
        if running.isEmpty {
            left = "no attempt was running"
        } else {
            var named = running.prefix(namedAttempts).map { "\($0.job) (attempt \($0.attempt))" }.joined(separator: ", ")
            if running.count > namedAttempts { named += " and \(running.count - namedAttempts) more" }
            left = "\(running.count == 1 ? "the attempt" : "the \(running.count) attempts") still running "
                + "\(running.count == 1 ? "is" : "are") taken up again once \(running.count == 1 ? "its lease passes" : "their leases pass"): \(named)"
        }
        return "jobledger: \(signal) again: stopping at once; \(left); the projections go on from their checkpoints next time"
    }
}
