import Foundation
import JobLedger
import JobLedgerProjections
import Testing

/// A replay's cost grows with its events, not with their square: `ReplayFold.apply` handed the
/// projections a lookup closure that held a copy of the whole fold, so storing the event's row
/// copied every row so far (copy on write) on every event. `replay --check` took 16 s on 20,000
/// queued jobs and had not ended after 16 minutes on 200,000.
@Suite struct ReplayScaleTests {
    /// The address of a dictionary's storage: a copy made on write moves it.
    func storage<K, V>(_ d: [K: V]) -> UInt { withUnsafeBytes(of: d) { $0.load(as: UInt.self) } }

    /// An event of a job the fold already holds updates its row in place: the rows are not
    /// copied (which made every event cost as much as all the rows so far).
    @Test func anEventUpdatesItsJobsRowWithoutCopyingTheRows() throws {
        let t = Timestamp(milliseconds: 1_795_000_000_000)
        var fold = ReplayFold()
        var jobs: [JobID] = []
        for i in 0..<100 {
            let job = JobID.generate(at: t)
            jobs.append(job)
            try fold.apply(seq: Int64(i + 1), job: job, version: 1, payload: .queued(.init(kind: "design")), at: t)
        }
        let before = storage(fold.rows)
        try fold.apply(seq: 101, job: jobs[0], version: 2, payload: .canceled(.init(reason: "test")), at: t)
        #expect(fold.rows[jobs[0]]?.state == .canceled)
        #expect(storage(fold.rows) == before, "the rows were copied to fold one event")
    }
}
