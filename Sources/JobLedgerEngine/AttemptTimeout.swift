import JobLedger

/// A kind's `timeout` (`register(kind:retry:concurrency:timeout:_:)`): an attempt still running
/// that long after it started is cancelled and recorded as a retryable `timeout` failure.
extension JobEngine {
    /// The failure recorded for an attempt that ran past `timeout`.
    static func timeoutError(_ timeout: Duration?) -> JobError {
        JobError(code: "timeout", message: "the attempt ran longer than its timeout of \(timeout.map { "\($0)" } ?? "?") and was cancelled",
                 retryable: true)
    }

    /// Runs beside an attempt (and is cancelled when the handler returns): at `began + timeout`
    /// marks the attempt as timed out and cancels its task, so the handler's end is recorded as
    /// a `timeout` failure. A handler that is still running `Options.cancelGrace` later has the
    /// failure recorded without it: the attempt is marked lost, so nothing it returns later is.
    func watchTimeout(_ context: JobContext, registration: Registration, from began: Timestamp, timeout: Duration) async {
        do { try await clock.sleep(until: began.adding(milliseconds: Self.milliseconds(timeout))) } catch { return }
        let task = state.withLock { s -> Task<Void, Never>? in
            guard let r = s.running[context.job], r.attempt == context.attempt, r.lost == nil, !r.returned else { return nil }
            s.running[context.job]!.timedOut = true
            return r.task
        }
        guard let task else { return }
        log(context.job, .warning, "attempt ran past its timeout of \(timeout); its handler is cancelled", metadata: ["attempt": "\(context.attempt)"])
        task.cancel()
        let graceEnds = began.adding(milliseconds: Self.milliseconds(timeout)).adding(milliseconds: Self.milliseconds(options.cancelGrace))
        // Not cancelled with the handler's task: this task is its own, cancelled only when the
        // handler returns.
        do { try await clock.sleep(until: graceEnds) } catch { return }
        let ignored = state.withLock { s -> Bool in
            guard let r = s.running[context.job], r.attempt == context.attempt, r.lost == nil, !r.returned else { return false }
            s.running[context.job]!.lost = "it ran past its timeout and ignored the cancellation"
            return true
        }
        guard ignored else { return }
        log(context.job, .error, "the handler did not stop within \(options.cancelGrace) of its timeout; the attempt is recorded as timed out and what it returns later is not recorded",
            metadata: ["attempt": "\(context.attempt)"])
        await record(.failed(Self.timeoutError(timeout)), context, registration: registration)
    }

    /// Whole milliseconds of `d` for a deadline on the engine's clock: rounded up (a positive
    /// duration is at least 1), saturating (0 for a negative one, `Int64.max` past the range).
    /// What a kind's timeout and `wait(for:timeout:)` are counted in.
    static func milliseconds(_ d: Duration) -> Int64 {
        let c = d.components
        guard c.seconds >= 0, c.attoseconds >= 0 else { return 0 }
        let (ms, overflow) = c.seconds.multipliedReportingOverflow(by: 1000)
        let (total, over) = ms.addingReportingOverflow((c.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        return overflow || over ? .max : total
    }
}
