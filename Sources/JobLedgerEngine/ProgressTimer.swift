import JobLedger

/// The timer behind a merged progress report: a handler that reports twice inside the interval
/// and then goes quiet (a long render) still has its latest report written — and the lease in
/// the log extended — once the interval since the last durable `progress` has passed, so a
/// browser's bar does not stand still on an older value. It sleeps on the engine's clock
/// (`JobClock.sleep(until:)`), so tests move it with a `ManualClock`.
struct ProgressTimer {
    let generation: UInt64
    let task: Task<Void, Never>
    /// It has taken the merged report and is writing it: stopping it means waiting for it, so
    /// that the report lands before whatever the attempt writes next.
    var writing = false
}

extension RunningAttempt {
    /// Stops the attempt's timer, if any: cancelled while it sleeps, left to finish once it
    /// writes. The caller awaits the returned task before writing anything of the attempt.
    mutating func stopProgressTimer() -> Task<Void, Never>? {
        guard let timer = progressTimer else { return nil }
        progressTimer = nil
        if !timer.writing { timer.task.cancel() }
        return timer.task
    }
}

extension JobEngine {
    /// Starts the attempt's timer for a report merged at a time when none runs (under the lock).
    func startProgressTimer(_ attempt: inout RunningAttempt, job: JobID, due: Timestamp) {
        attempt.progressTimers += 1
        let generation = attempt.progressTimers, number = attempt.attempt
        attempt.progressTimer = ProgressTimer(generation: generation, task: Task {
            await self.progressTimerFired(job: job, attempt: number, generation: generation, due: due)
        })
    }

    private func progressTimerFired(job: JobID, attempt: Int, generation: UInt64, due: Timestamp) async {
        do { try await clock.sleep(until: due) } catch { return }
        let pending = state.withLock { s -> PendingProgress? in
            // Stopped meanwhile (cancelled under this lock), or superseded: nothing to do.
            guard !Task.isCancelled, let r = s.running[job], r.attempt == attempt,
                  r.progressTimer?.generation == generation else { return nil }
            guard let pending = r.pendingProgress, r.lost == nil, !r.recording else {
                s.running[job]!.progressTimer = nil
                return nil
            }
            s.running[job]!.pendingProgress = nil
            s.running[job]!.progressTimer!.writing = true
            return pending
        }
        guard let pending else { return }
        // A lost claim is handled inside (the handler is cancelled); a storage error skips this
        // heartbeat like any other.
        try? await writeProgress(job: job, attempt: attempt, fraction: pending.fraction, message: pending.message, at: clock.now())
        let interval = options.progressIntervalMilliseconds
        state.withLock { s in
            guard s.running[job]?.attempt == attempt, s.running[job]?.progressTimer?.generation == generation else { return }
            s.running[job]!.progressTimer = nil
            // A report merged while this one was being written (possible only when the wall
            // clock steps back: the timer fires an interval after the last write, and a report
            // that late is written, not merged) gets a timer of its own, one interval on.
            if s.running[job]!.pendingProgress != nil, !s.running[job]!.recording {
                startProgressTimer(&s.running[job]!, job: job, due: clock.now().adding(milliseconds: interval))
            }
        }
    }
}
