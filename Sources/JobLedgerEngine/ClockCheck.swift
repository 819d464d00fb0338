import JobLedger
import Logging

/// Jobs that wait for nothing but this engine's clock: a job with no run-at of its own may not
/// start before the time it was queued at (the log refuses a `started` earlier than that), as
/// the queuing process's clock read it. Queued from a clock ahead of this one, or before this
/// clock was stepped back, such jobs show as `queued` and nobody runs them until this clock
/// catches up; the engine says so rather than leave an operator to guess.
extension JobEngine {
    /// How often, at most, the engine looks for such jobs (and warns): once a minute by its
    /// clock, and at once when its clock is found to have gone back.
    static let clockCheckMilliseconds: Int64 = 60_000

    /// Logs one warning when queued jobs wait only for this clock (at most once a minute).
    func noticeJobsWaitingOnTheClock() {
        let now = clock.now()
        let found = state.withLock { s -> (jobs: Int, aheadMilliseconds: Int64, example: JobID)? in
            if let last = s.lastClockCheck, now.milliseconds >= last.milliseconds,
               now.milliseconds - last.milliseconds < Self.clockCheckMilliseconds { return nil }
            s.lastClockCheck = now
            return s.view.waitingOnTheClock(now: now)
        }
        guard let found else { return }
        let seconds = (found.aheadMilliseconds + 999) / 1000
        options.logger.warning(
            "\(found.jobs) queued job(s) wait only for this worker's clock: they were queued at a time up to \(seconds) s ahead of it (by a clock ahead of this one, or before this one was stepped back), and a job may not start before the time it was queued at; they run once this clock gets there. Keep the clocks of every process that writes to the log in step (NTP); see Docs/Operations.md, Clocks",
            metadata: ["job": "\(found.example)", "ahead_seconds": "\(seconds)", "jobs": "\(found.jobs)"])
    }
}
