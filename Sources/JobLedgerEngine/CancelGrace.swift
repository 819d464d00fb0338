import JobLedger

/// `cancel` of a job whose handler runs in this engine: the handler's task is cancelled, and
/// `canceled` is recorded when it returns. A handler that ignores the cancellation (a loop
/// that never checks `ctx.isCancelled`) would keep its job `running` for as long as it runs,
/// reporting progress, although the caller was told it was canceled.
extension JobEngine {
    /// Runs beside a handler whose job was canceled: once `Options.cancelGrace` has passed on
    /// the engine's clock with the handler still running, `canceled` is recorded without it and
    /// the attempt is marked lost, so nothing it reports or returns later is recorded (its slot
    /// stays taken until it returns, as after a timeout).
    func watchCancellation(of job: JobID, attempt: Int, reason: String) {
        let graceEnds = clock.now().adding(milliseconds: Self.milliseconds(options.cancelGrace))
        let watch = Task { [self] in
            do { try await clock.sleep(until: graceEnds) } catch { return }
            let ignored = state.withLock { s -> (JobContext, Registration)? in
                guard let r = s.running[job], r.attempt == attempt, r.lost == nil, !r.returned,
                      let registration = s.registrations[r.kind] else { return nil }
                s.running[job]!.lost = "it was canceled and ignored the cancellation"
                return (JobContext(job: job, kind: r.kind, input: .null, attempt: attempt, maxAttempts: attempt, engine: self), registration)
            }
            guard let (context, registration) = ignored else { return }
            log(job, .error, "the handler did not stop within \(options.cancelGrace) of its job being canceled; the job is recorded as canceled and what the handler reports or returns later is not recorded",
                metadata: ["attempt": "\(attempt)"])
            await record(.canceled(reason: reason), context, registration: registration)
        }
        // Kept with the attempt, so that the handler's return ends the wait (a second cancel's
        // watch replaces the first's).
        let replaced = state.withLock { s -> Task<Void, Never>? in
            guard let r = s.running[job], r.attempt == attempt, !r.returned else { return watch }
            defer { s.running[job]?.cancelWatch = watch }
            return r.cancelWatch
        }
        replaced?.cancel()
    }
}
