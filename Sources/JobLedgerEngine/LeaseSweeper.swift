import JobLedger
import JobLedgerSQLite

/// Keeping claims honest: requeueing jobs whose worker stopped renewing its lease, noticing when
/// one of this engine's own attempts lost its claim, and removing the bytes such attempts left.
extension JobEngine {
    /// Requeues (or fails, when attempts are used up) running jobs whose lease has passed and
    /// that no attempt in this engine is running: their worker died or lost contact. Returns
    /// whether it recorded anything.
    func sweepExpiredLeases() async -> Bool {
        let now = clock.now()
        let expired = state.withLock { s in
            s.view.running.values.filter { ($0.leaseDeadline ?? .init(milliseconds: .max)) < now && s.running[$0.id] == nil }
        }
        var swept = false
        for job in expired {
            let failure = EventPayload.failed(.init(
                code: "lease_expired",
                message: "worker \(job.worker ?? "?") did not renew its lease (deadline \(job.leaseDeadline?.iso8601 ?? "?"))",
                retryable: true, attempt: job.attempt, retryAt: now))
            do {
                folded(try await ledger.append(NewEvent(job: job.id, payload: failure, expectedVersion: job.version)))
                storage.succeeded()
            } catch where noteStorageFault(error, during: "requeueing a job whose lease expired") {
                break  // the others would fail too: the next due try sweeps them
            } catch {
                // A lost race means the worker was alive after all, or someone else swept it; a
                // sweep cut short by the engine's task being cancelled (shutdown) is no trouble.
                if !error.isLostRace && !Task.isCancelled {
                    log(job.id).warning("could not requeue an expired lease this round: \(error)")
                }
                continue
            }
            swept = true
            // Which of the two, said (it read "requeued or failed").
            let outcome = job.attempt < job.maxAttempts ? "requeued for attempt \(job.attempt + 1) of \(job.maxAttempts)"
                : "failed for good (attempt \(job.attempt) was its last)"
            log(job.id).warning("lease expired; \(outcome)", metadata: ["worker": "\(job.worker ?? "?")", "attempt": "\(job.attempt)"])
        }
        return swept
    }

    /// Compares this engine's running attempts with its view of the log: an attempt whose job
    /// has moved on (requeued after its lease expired, started again elsewhere, finished or
    /// canceled by someone else) has lost its claim. Its handler is cancelled and nothing more
    /// of it is recorded.
    func noticeLostClaims() {
        let lost: [(JobID, Int, String)] = state.withLock { s in
            var out: [(JobID, Int, String)] = []
            for (id, r) in s.running where r.lost == nil && !r.recording && s.view.lastSeq >= r.startedSeq {
                // A job whose state is being read from the log is judged once it has been.
                if s.view.unresolved.contains(id) { continue }
                if let now = s.view.running[id], now.attempt == r.attempt { continue }
                let why: String
                if let now = s.view.running[id] {
                    why = "attempt \(now.attempt) now holds the job"
                } else if s.view.queued[id] != nil {
                    why = "the job is queued again"
                } else {
                    why = "the job was finished by someone else"
                }
                out.append((id, r.attempt, why))
            }
            return out
        }
        for (job, attempt, why) in lost { claimLost(job: job, attempt: attempt, reason: why) }
    }

    /// Marks an attempt as having lost its claim (once), cancels its handler and logs one warning.
    func claimLost(job: JobID, attempt: Int, reason: String) {
        let task: Task<Void, Never>? = state.withLock { s in
            guard let r = s.running[job], r.attempt == attempt, r.lost == nil else { return nil }
            s.running[job]!.lost = reason
            return r.task
        }
        guard let task else { return }
        log(job).warning("attempt \(attempt) lost its claim (\(reason)); its handler is cancelled and nothing more of it is recorded",
                         metadata: ["attempt": "\(attempt)"])
        count("claims_lost", kind: state.withLock { $0.running[job]?.kind ?? "?" })
        task.cancel()
    }

    /// Removes staged assets no event references, once per `Options.assetPrune` interval.
    func pruneOrphanAssetsWhenDue() async {
        guard let prune = options.assetPrune else { return }
        let now = clock.now()
        let due = state.withLock { s -> Bool in
            guard now.milliseconds - s.lastAssetPrune.milliseconds >= prune.intervalMilliseconds else { return false }
            s.lastAssetPrune = now
            return true
        }
        guard due else { return }
        do {
            let removed = try await ledger.pruneOrphanAssets(stagedBefore: now.adding(milliseconds: -prune.graceMilliseconds))
            if removed.count > 0 {
                options.logger.info("removed \(removed.count) staged asset(s) that no event references (\(removed.bytes) bytes)")
            }
        } catch where noteStorageFault(error, during: "removing unreferenced staged assets") {
            return
        } catch {
            options.logger.warning("could not prune unreferenced staged assets this time: \(error)")
        }
    }
}
