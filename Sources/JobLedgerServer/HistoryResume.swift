import JobLedger
import Synchronization

/// Where the last page of each recently read history ended: the seq of its last event, the job's
/// state after it and when it was recorded. A client watching a job asks next for the events
/// after that seq (`?after=`), and the fold of the state resumes there instead of reading and
/// decoding the job's whole history again on every update (30,000 events a request, for a
/// long-running job). Events are append-only and a job's state after one of its events never
/// changes, so an entry stays true; one is used only for the exact seq it ends at. At most
/// `capacity` jobs are kept; past it, the table is emptied and fills again (a miss only costs
/// the full fold it saves).
final class HistoryResume: Sendable {
    struct Point: Sendable {
        let seq: Int64
        let state: JobState
        let recordedAt: Timestamp
    }

    private let points = Mutex<[JobID: Point]>([:])
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    /// The point of `job` that ends at `seq`, if one is kept.
    func point(_ job: JobID, endingAt seq: Int64) -> Point? {
        points.withLock { p in p[job].flatMap { $0.seq == seq ? $0 : nil } }
    }

    func keep(_ job: JobID, _ point: Point) {
        points.withLock { p in
            if p[job] == nil, p.count >= capacity { p.removeAll(keepingCapacity: true) }
            p[job] = point
        }
    }

    /// Jobs kept (for tests).
    var count: Int { points.withLock { $0.count } }
}
