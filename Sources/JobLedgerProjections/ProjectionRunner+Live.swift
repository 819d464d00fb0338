import Foundation
import JobLedger
import JobLedgerSQLite
import Logging

/// Running the projections live, and draining them before a run ends.
extension ProjectionRunner {
    /// Catches up, then keeps delivering until every effect projection this runner owns has
    /// nothing pending (sent, coalesced or dead), waiting for backoffs and `Retry-After`s, for
    /// at most `limit`. Returns the effect projections it owns that still owe something when
    /// it stops: items pending (with their next try) or dead. One that another process owns
    /// (a worker beside this one holds its lease) is left to that process and not returned.
    /// What `work --until-idle` and `demo` run before they exit.
    ///
    /// A storage fault is waited out with backoff within `limit` (and `giveUpAfter`); one that
    /// is still there when they run out is thrown (`LedgerError.storageFault`). Projections or
    /// options the runner cannot run with throw at once, as for `catchUp()`. A delivery still
    /// waiting for its sink when `limit` runs out (a service that does not answer) is cancelled
    /// (after the grace a stop gives a delivery, `deliveryGraceOnStop`, 2 s) and waited for a
    /// second more, so that it records its failure and stops renewing the lease before
    /// `release()`; a sink that ignores the cancellation is left to end on its own,
    /// by its own timeout. Its items stay pending. (The time was looked at only between
    /// deliveries: a sink that hung for its whole timeout, try after try, held a drain of 10 s
    /// for minutes.)
    ///
    /// ```swift
    /// try await engine.workUntilIdle()
    /// let owed = try await runner.drain(for: .seconds(10))
    /// for s in owed { print("\(s.name): \(s.pending) pending, \(s.dead) dead, \(s.lastError ?? "")") }
    /// ```
    public func drain(for limit: Duration) async throws -> [ProjectionStatus] {
        try checkRunnable()
        let deadline = ContinuousClock.now.advanced(by: limit)
        let effects = effectProjections.map(\.name)
        while true {
            let report: Report
            do {
                let left = max(deadline - ContinuousClock.now, .milliseconds(1))
                let step = Task { try await self.catchUp() }
                do {
                    report = try await withoutCancelling(within: left) { try await step.value }
                } catch let e as DeadlineExceeded {
                    step.cancel()
                    _ = try? await withoutCancelling(within: Self.deliveryGraceOnStop + .seconds(1)) { _ = try? await step.value }
                    throw e
                }
                if report.applied + report.ingested + report.delivered + report.failed > 0 { storage.succeeded() }
            } catch is DeadlineExceeded {
                let owner = options.owner
                return try ledger.projectionStatus(effects).filter { s in
                    effects.contains(s.name) && (s.owner == nil || s.owner == owner) && (s.pending > 0 || s.dead > 0 || s.lag > 0)
                }
            } catch let e as LedgerError where e.storageFault != nil {
                storage.failed(e.storageFault!, during: "draining the projections")
                let left = deadline - ContinuousClock.now
                guard storage.outlasted() == nil, left > .zero else { throw e }
                await storage.waitForNextTry(limit: min(left, timeUntilGiveUp() ?? left))
                continue
            }
            // What another process owns (a worker beside this one) is its to deliver: not
            // waited for, not reported as owed by this run.
            let statuses = try ledger.projectionStatus(effects).filter { effects.contains($0.name) && !report.notOwned.contains($0.name) }
            let owed = statuses.filter { $0.pending > 0 || $0.lag > 0 }
            if owed.isEmpty { return statuses.filter { $0.pending > 0 || $0.dead > 0 } }
            let now = clock.now()
            let next = owed.compactMap(\.nextAttemptAt).min() ?? now
            let wait = max(1, next.milliseconds(since: now))
            guard ContinuousClock.now.advanced(by: .milliseconds(wait)) < deadline else {
                return statuses.filter { $0.pending > 0 || $0.dead > 0 || $0.lag > 0 }
            }
            await ledger.appended.wait(after: ledger.appended.generation, timeout: .milliseconds(min(wait, 1000)))
        }
    }

    /// Runs every projection live until the task is cancelled: each in its own loop, woken by
    /// appends through the same `Ledger`, polling every `Options.pollInterval` for other
    /// processes' appends, waiting out backoffs. Then gives up the leases (`release()`).
    ///
    /// A storage fault pauses the steps, which are retried with backoff; one that outlasts
    /// `giveUpAfter` is thrown. Projections or options the runner cannot run with throw at
    /// once (`ProjectionRegistrationError`, `InvalidProjectionOptions`).
    ///
    /// ```swift
    /// let projections = Task { try await runner.runLive() }
    /// // … later
    /// projections.cancel()
    /// ```
    public func runLive() async throws {
        try checkRunnable()
        let observation = observeCommits()
        let gaveUp = await withTaskGroup(of: StorageFault?.self) { group -> StorageFault? in
            // State projections step in larger batches, gathered over a longer window
            // (`stateBatchSize`, `stateBatchWindow`): their cost is in their transactions.
            let limit = options.stateBatchSize, window = options.stateBatchWindow
            for p in stateProjections {
                group.addTask {
                    await self.loop(p.name, window: window) {
                        let n = try await self.step(p, limit: limit)
                        return n == 0 ? .idle : n < limit ? .tookIn : .worked(delivered: 0, failed: 0, dead: 0)
                    }
                }
            }
            for p in effectProjections {
                group.addTask { await self.loop(p) }
            }
            for await fault in group {
                if let fault { group.cancelAll(); return fault }
            }
            return nil
        }
        observation.cancel()
        await release()
        if let gaveUp {
            options.logger.error("giving up: the storage fault lasted longer than \(options.storageFaults.giveUpAfter.map(durationText) ?? "its limit"): \(gaveUp.summary)")
            throw LedgerError.storageFault(gaveUp)
        }
    }

    private func loop(_ p: any EffectProjection) async -> StorageFault? {
        // After a partial batch, a projection with a linger waits that long before the next
        // delivery, so items arriving in a burst go out together instead of one call each.
        let linger = p.linger
        // Projections that deliver no further than this one (the broadcast waits for the
        // uploads): when this one moves on, they are woken at once rather than at their next
        // poll, since a checkpoint or a sent item is no append and wakes nobody by itself.
        let hasDependents = effectProjections.contains { $0.dependencies.contains(p.name) }
        var lastBatch = 0
        return await loop(p.name) {
            if let linger, lastBatch > 0, lastBatch < self.deliveryLimit(p) {
                try await Task.sleep(for: linger)
            }
            lastBatch = 0
            let (ingested, _) = try await self.ingest(p)
            let step = try await self.deliver(p)
            if case .worked(let delivered, let failed, _) = step { lastBatch = delivered + failed }
            if hasDependents, ingested > 0 || lastBatch > 0 { self.ledger.appended.signal() }
            // A full batch taken in: there may be more at once. A partial one: the next step
            // after the batch window (unless a delivery is still under way), which gathers a
            // burst as the linger would: a linger no longer than the window is not waited on top
            // of it (a longer one still is).
            if ingested >= self.options.batchSize { return .worked(delivered: 0, failed: 0, dead: 0) }
            if ingested > 0, case .worked(let d, _, _) = step, d >= self.deliveryLimit(p) { return step }
            guard ingested > 0 else { return step }
            if self.options.batchWindow > .zero, (linger ?? .zero) <= self.options.batchWindow { lastBatch = 0 }
            return .tookIn
        }
    }

    /// While running live, the ledger's writer hands each commit's events, decoded and folded,
    /// to the projections (into `folded`): once at the head, no step reads back and decodes
    /// what was appended through this `Ledger` (5–9 % of a submit's CPU in `jobledger serve`).
    private func observeCommits() -> CommitObservation {
        let shared = folded
        return ledger.observeCommits { committed in shared.handOn(committed.map { FoldedEvents.Entry(event: $0.event, after: $0.after) }) }
    }

    /// Repeats `step` until cancelled: at once after work, after `window` (else `batchWindow`)
    /// when it took in a partial batch, else when the log grows, when an item is due, or every
    /// poll interval. During a storage fault, only when the next try is
    /// due; returns the fault when it outlasts `giveUpAfter`.
    private func loop(_ name: ProjectionName, window: Duration? = nil, _ step: () async throws -> Step) async -> StorageFault? {
        let window = window ?? options.batchWindow
        var log = options.logger
        log[metadataKey: "projection"] = "\(name)"
        var lastError: String?
        while !Task.isCancelled {
            if let fault = storage.outlasted() { return fault }
            if !storage.mayTry() {
                await storage.waitForNextTry(limit: timeUntilGiveUp())
                continue
            }
            let seen = ledger.appended.generation
            var outcome = Step.idle
            do {
                let probing = storage.current?.fault
                try ledger.checkFileIsThere()  // a file moved or deleted while open takes writes no one sees
                if probing?.kind == .vanished { storage.succeeded() }
                outcome = try await step()
                // Only a step that wrote something proves the storage works again. A paused
                // runner with nothing to write tries a write of its own (`probeWrite`): on an idle
                // node nothing else ever would, and its projections (and `serve`'s /readyz) stayed
                // paused after the disk had room again, until another process appended.
                switch outcome {
                case .worked, .tookIn: storage.succeeded()
                case .idle, .waitUntil:
                    if storage.current != nil {
                        try await ledger.probeWrite()
                        storage.succeeded()
                    }
                }
                lastError = nil
            } catch let e as LedgerError where e.storageFault != nil {
                storage.failed(e.storageFault!, during: "projecting \(name)")
                continue
            } catch {
                if Task.isCancelled || error is CancellationError { break }
                let text = "\(error)"
                if text != lastError { log.error("projection step failed, retrying every poll: \(text)") }
                lastError = text
            }
            var timeout = options.pollInterval
            switch outcome {
            case .worked:
                await Task.yield()
                continue
            case .tookIn:
                // A partial batch: gather what arrives meanwhile into the next one.
                if window > .zero {
                    try? await Task.sleep(for: window)
                } else {
                    await Task.yield()
                }
                continue
            case .waitUntil(let t):
                timeout = min(timeout, .milliseconds(max(1, t.milliseconds - clock.now().milliseconds)))
            case .idle:
                break
            }
            await ledger.appended.wait(after: seen, timeout: timeout)
        }
        return nil
    }
}
