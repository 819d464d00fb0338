/// A one-line account of what an event changed in its job, for timelines (`jobledger history`).
public enum Change {
    /// What `payload` did to a job, given its state before (nil: the job is new) and after:
    /// `running → completed: result image/png, 98765 bytes, sha256 0123456789ab…`.
    public static func describe(before: JobState?, after: JobState, payload: EventPayload) -> String {
        func pct(_ f: Double) -> String {
            let p = (f * 1000).rounded() / 10
            return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
        func asset(_ a: AssetRef) -> String { "\(a.contentType), \(a.size) bytes, sha256 \(a.sha256.prefix(12))…" }
        let from = before?.status.rawValue ?? "new"
        let move = from == after.status.rawValue ? after.status.rawValue : "\(from) → \(after.status.rawValue)"
        switch payload {
        case .queued(let q):
            // A requeue's `max_attempts` is how many attempts it adds: the job's limit is then
            // its attempts so far plus those (a retry of 2 on a job that had used 1 read "up to
            // 2 attempts" where the job then allowed 3).
            let limit = before == nil ? "up to \(q.maxAttempts) attempt\(q.maxAttempts == 1 ? "" : "s")"
                : "\(q.maxAttempts) more attempt\(q.maxAttempts == 1 ? "" : "s"), now up to \(after.maxAttempts)"
            var s = "\(move): kind \(q.kind), priority \(q.priority), \(limit)"
            if let r = q.runAt { s += ", not before \(r.iso8601)" }
            if let o = q.recordedOwner, o != before?.owner { s += ", owner \(o)" }
            return s
        case .started(let st):
            return "\(move): attempt \(st.attempt) of \(after.maxAttempts) on worker \(st.worker), lease until \(st.leaseDeadline.iso8601)"
        case .progress(let p):
            var s = "progress \(pct(before?.progress ?? 0)) → \(pct(p.fraction))"
            if let m = p.message { s += " “\(m)”" }
            return s
        case .lowres(let l):
            return "preview staged (\(asset(l.asset)))"
        case .completed(let c):
            var s = move
            if let a = c.asset { s += ": result \(asset(a))" }
            if let o = c.output { s += "\(c.asset == nil ? ":" : ";") output \(o.canonicalText.prefix(80))" }
            return s
        case .failed(let f):
            var s = "\(move): attempt \(f.attempt) failed, \(f.code): \(f.message)"
            if after.status == .queued {
                // An attempt cut short by its worker's shutdown does not count: say so, or the
                // job's "up to N attempts" reads as wrong next to the jobs table's N + 1.
                let refund = f.refundsAttempt && after.maxAttempts > (before?.maxAttempts ?? after.maxAttempts)
                    ? "attempt given back, now up to \(after.maxAttempts) attempts; " : ""
                s += " (retryable; \(refund)next attempt \(after.attempt + 1) not before \(after.runAt.iso8601))"
            } else if f.retryable {
                s += " (retryable, but no attempts left)"
            } else {
                s += " (not retryable)"
            }
            return s
        case .canceled(let c):
            return "\(move)\(c.reason.isEmpty ? "" : ": \(c.reason)")"
        }
    }
}
