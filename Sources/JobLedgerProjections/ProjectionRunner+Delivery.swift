import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite
import Logging

/// Delivering an effect projection's outbox: the due head, in `seq` order, through the
/// projection's `deliver`, recorded as sent or failed (backoff, `Retry-After`, dead letters).
extension ProjectionRunner {
    /// The most items one delivery hands a projection: `deliveryBatch`, and never more than its
    /// preferred batch.
    func deliveryLimit(_ p: any EffectProjection) -> Int {
        guard let most = p.preferredBatchSize else { return options.deliveryBatch }
        return max(1, min(options.deliveryBatch, most))
    }

    /// Delivers the due head of an effect projection's outbox.
    func deliver(_ p: any EffectProjection) async throws -> Step {
        let turn = turns[p.name]!
        await turn.acquire()
        defer { turn.release() }
        guard let lease = try await own(p.name) else { return .idle }
        if let owed = unrecorded.withLock({ $0[p.name] }) {
            // Delivered before a storage fault kept it from being recorded: record it, never
            // deliver it again. Taken over meanwhile: the new owner delivers it.
            guard try await fenced(p.name, { try await recordSent(owed, of: p) }) != nil else {
                unrecorded.withLock { $0[p.name] = nil }
                return .idle
            }
            return .worked(delivered: owed.items.count, failed: 0, dead: 0)
        }
        let now = clock.now()
        switch try await ledger.dueItems(p.name, now: now, limit: deliveryLimit(p)) {
        case .none: return .idle
        case .notBefore(let t): return .waitUntil(t)
        case .due(let items):
            return try await fenced(p.name) {
                let result = await renewingLease(p.name) { await Self.finishingOnStop(items) { await p.deliver(items) } }
                return try await record(result, of: p, handed: items, lease: lease, now: now)
            } ?? .idle
        }
    }

    /// Records what a delivery did. Items delivered are recorded even when shutdown cut the
    /// call off; a failure caused by shutdown is not a failed try (the items stay pending and
    /// due). A delivery that names no item, neither delivered nor failed, delivered nothing:
    /// it is a failed try of every item `handed` over (with the failure's error if it gave one),
    /// so that they back off, rather than being handed over again at once, for ever.
    private func record(_ result: Delivery, of p: any EffectProjection, handed: [OutboxItem], lease: ProjectionLease,
                        now: Timestamp) async throws -> Step {
        let sent = result.delivered.map(\.item)
        if !sent.isEmpty {
            let receipts: [(item: OutboxItem, receipt: String)] = result.delivered.compactMap { d in d.receipt.map { (item: d.item, receipt: $0) } }
            try await recordSent(UnrecordedDelivery(items: sent, receipts: receipts, lease: lease, at: clock.now()), of: p)
        }
        var failure = result.failure.flatMap { $0.items.isEmpty ? nil : $0 }
        if sent.isEmpty, failure == nil {
            let n = handed.count
            let silent = SinkError.unavailable("\(p.name)'s deliver reported none of the \(n) item\(n == 1 ? "" : "s") delivered and none failed; tried again after a backoff")
            failure = (result.failure?.error ?? silent, handed)
        }
        guard let (error, failed) = failure else {
            return .worked(delivered: sent.count, failed: 0, dead: 0)
        }
        if Task.isCancelled { throw CancellationError() }
        let dead = try await fail(failed, error: error, lease: lease, now: now)
        return .worked(delivered: sent.count, failed: failed.count, dead: dead)
    }

    /// Records a failed try: the next one after a jittered backoff, or Retry-After if longer.
    private func fail(_ items: [OutboxItem], error: SinkError, lease: ProjectionLease, now: Timestamp) async throws -> Int {
        let name = lease.projection
        let attempt = (items.map(\.attempts).max() ?? 0) + 1
        var delay = random.withLock { r in options.retry.delay(afterAttempt: attempt, using: &r) }
        if case .unavailable(_, let after?) = error { delay = max(delay, min(after, options.maxRetryAfterMilliseconds)) }
        let ledger = self.ledger, maxAttempts = options.maxAttempts, retryAt = now.adding(milliseconds: delay)
        let dead = try await Self.uncancelled {
            try await ledger.markFailed(items, lease: lease, error: error, at: now, retryAt: retryAt, maxAttempts: maxAttempts)
        }
        var log = options.logger
        log[metadataKey: "projection"] = "\(name)"
        log[metadataKey: "seq"] = "\(items[0].seq)"
        if dead > 0 {
            let (shown, since) = deadLetterLog.withLock { $0.dead(dead, of: name, at: clock.now().milliseconds) }
            if shown {
                let why = if case .rejected = error { "refused for good (not worth retrying)" } else { "after attempt \(attempt), the last of \(maxAttempts)" }
                let earlier = since > 0 ? " (and \(since) more since the last such line, not logged one by one: see jobledger projections status \(name))" : ""
                log.error("dead-lettered \(dead) item(s), \(why)\(earlier) (re-drive with ledger.redrive(\"\(name)\") or jobledger projections retry \(name)): \(error)")
            }
        } else {
            log.warning("delivery failed (attempt \(attempt), next try in \(delay) ms): \(error)")
        }
        count("failed", name, items.count)
        count("dead", name, dead)
        return dead
    }

    /// How long a delivery under way when the runner stops may go on to its end.
    static let deliveryGraceOnStop: Duration = .seconds(2)

    /// Runs a delivery that a stop (the runner's task cancelled) does not cut off at once: it
    /// goes on for up to `deliveryGraceOnStop` more, so that a request the service has taken is
    /// recorded as sent. Cut off at once, it was recorded as not delivered and sent again by the
    /// next run, though the service had it: an AnyCable try-out counted 120 publications for 88
    /// messages. Past the grace the delivery is cancelled (a service that does not answer), and
    /// given a second more; a sink that ignores its cancellation is then left to itself, its
    /// `items` pending (it held the stop, `runLive()`, and the projection's lease, for good).
    static func finishingOnStop(_ items: [OutboxItem], _ delivery: @escaping @Sendable () async -> Delivery) async -> Delivery {
        let call = Task { await delivery() }
        if let done = try? await withoutCancelling({ await call.value }) { return done }
        // Stopped: the bounded waits run in a task of their own, which the stop does not cancel.
        return await Task {
            if let done = try? await withoutCancelling(within: deliveryGraceOnStop, { await call.value }) { return done }
            call.cancel()
            if let done = try? await withoutCancelling(within: .seconds(1), { await call.value }) { return done }
            return Delivery(delivered: [], failure: (.unavailable("the delivery did not end within \(durationText(deliveryGraceOnStop + .seconds(1))) of the stop; its items stay pending"), items))
        }.value
    }
}
