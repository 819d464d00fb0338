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

    func run() async throws {
        try? await gracefulShutdown()
        // Trapped only now: the first signal is the group's, and starts the graceful shutdown.
        let again = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        printErr("jobledger: stopping: \(waitsFor); a second Ctrl-C (or SIGTERM) stops at once")
        // Unstructured: the group waits for this service to return before it stops the next.
        Task.detached {
            for await signal in again {
                printErr("jobledger: \(signal) again: stopping at once; attempts still running are taken up again "
                         + "once their leases pass, and the projections go on from their checkpoints next time")
                exit(130)
            }
        }
    }
}
