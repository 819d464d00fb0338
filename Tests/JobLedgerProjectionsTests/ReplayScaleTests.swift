import Foundation
import JobLedger
import JobLedgerProjections
import Testing

/// A replay's cost grows with its events, not with their square: `ReplayFold.apply` handed the
/// projections a lookup closure that held a copy of the whole fold, so storing the event's row
/// copied every row so far (copy on write) on every event. `replay --check` took 16 s on 20,000
/// queued jobs and had not ended after 16 minutes on 200,000.
@Suite struct ReplayScaleTests {
    /// The fastest of three folds of `jobs` queued events, each into a new `ReplayFold` (which
    /// keeps a row per job, as `replay --check` does).
    func fastestFold(_ jobs: Int) throws -> Duration {
        let clock = ContinuousClock()
        let start = Timestamp(milliseconds: 1_795_000_000_000)
        var best = Duration.seconds(1_000_000)
        for _ in 0..<3 {
            var fold = ReplayFold()
            let began = clock.now
            for i in 0..<jobs {
                let t = start.adding(milliseconds: Int64(i))
                try fold.apply(seq: Int64(i + 1), job: JobID.generate(at: t), version: 1, payload: .queued(.init(kind: "design")), at: t)
            }
            best = min(best, began.duration(to: clock.now))
            #expect(fold.rows.count == jobs)
        }
        return best
    }

    /// Four times the events take about four times as long (the square took sixteen). The
    /// bound, eight, leaves room for a loaded machine either way; the fastest of three runs of
    /// each size is compared, so one slow run does not decide.
    @Test func fourTimesTheEventsTakeAboutFourTimesAsLong() throws {
        let small = try fastestFold(4_000)
        let large = try fastestFold(16_000)
        #expect(large < small * 8, "4,000 events: \(small); 16,000: \(large)")
    }
}
