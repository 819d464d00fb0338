import Foundation
import JobLedger

/// What a worker's attempts came to over a run, as `DemoDisplay` sees the log's events: what
/// `work --until-idle` says when it ends.
struct WorkOutcomes: Sendable, Equatable {
    var completed = 0
    /// Failed for good (no attempts left, or not retryable).
    var failed = 0
    var canceled = 0
    /// Attempts that failed and were queued again.
    var retried = 0
    /// Attempts of another worker whose lease ran out (it stopped, or lost contact), ended by
    /// a lease sweep (`lease_expired`) and their jobs queued again: taken over.
    var recovered = 0

    /// Takes in one outcome: `event`, which moved a job from `prior` to `after`.
    mutating func count(_ payload: EventPayload, after: JobState) {
        switch payload {
        case .completed: completed += 1
        case .canceled: canceled += 1
        case .failed: if after.status == .queued { retried += 1 } else { failed += 1 }
        case .queued, .started, .progress, .lowres: break
        }
    }

    /// The line `work --until-idle` ends with, on stderr:
    ///
    /// ```
    /// jobledger: idle after 2.31 s: 12 jobs completed, 1 failed, 0 canceled (3 attempts retried)
    /// ```
    func summary(after elapsed: Duration, interrupted: Bool) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return "jobledger: \(interrupted ? "stopped" : "idle") after \(String(format: "%.2f", seconds)) s: "
            + "\(plural(completed, "job")) completed, \(failed) failed, \(canceled) canceled (\(plural(retried, "attempt")) retried)"
            + (recovered > 0 ? "; \(plural(recovered, "attempt")) of a worker that stopped taken over (lease expired)" : "")
    }
}
