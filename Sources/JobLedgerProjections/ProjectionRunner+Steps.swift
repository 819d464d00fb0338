import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite
import Synchronization

/// One step of a projection: a state projection's batch applied with its checkpoint, an effect
/// projection's batch taken into its outbox (and handed over when it delivers as it takes in),
/// each folded on a reader before its write, from what the runner's other projections already
/// read and folded when they did.
extension ProjectionRunner {
    /// A step's events on its reader: from what another projection of this runner just read
    /// and folded when it holds them (no further than the reader's snapshot: what it holds may
    /// be ahead of it), the rest of the batch from the log.
    var readEvents: @Sendable (Database, Int64, Int64, Int) throws -> [ProjectedEvent] {
        let shared = folded
        return { db, after, through, limit in
            let head = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM events")) ?? 0
            guard let held = shared.events(after: after, through: min(through, head), limit: limit), let last = held.last else {
                return try Ledger.projectedEvents(db, after: after, through: through, limit: limit)
            }
            // The run ended before the batch did: a short batch would read as "caught up".
            guard held.count < limit, last.seq < min(through, head) else { return held }
            return held + (try Ledger.projectedEvents(db, after: last.seq, through: through, limit: limit - held.count))
        }
    }

    /// Applies the next batch of events (at most `limit`, else `batchSize`) to a state
    /// projection, with its checkpoint. When the
    /// projection's own code fails, throws `LedgerError.projectionFailed`, after keeping the
    /// reason in its status.
    func step(_ p: any StateProjection, limit: Int? = nil) async throws -> Int {
        let turn = turns[p.name]!
        await turn.acquire()
        defer { turn.release() }
        let cache = caches[p.name]!, shared = folded
        // Folded before the write (on a reader, in parallel with the writer), applied in it.
        let n: Int
        let restored = Mutex(false)
        do {
            n = try await ledger.projectionStep(p.name, limit: limit ?? options.batchSize, read: readEvents, restore: { db in
                let made = try p.restoreTables(db)
                restored.withLock { $0 = made }  // a retried transaction says again
                return made
            }, prepare: { db, events in
                // Each job's state after its last event in the batch.
                var latest: [JobID: JobState] = [:]
                for e in events { latest[e.job] = try shared.state(after: e, cache: cache, db: db) }
                return latest
            }, apply: { db, events, latest in
                do { try p.apply(events, states: latest, db: db) } catch { throw LedgerError.thrown(by: p.name, error) }
            })
        } catch {
            if case .projectionFailed(_, let reason) = error { await ledger.recordProjectionFailure(p.name, reason: reason) }
            throw error
        }
        if restored.withLock({ $0 }) {
            var log = options.logger
            log[metadataKey: "projection"] = "\(p.name)"
            log.warning("the table of projection \(p.name) was missing (dropped behind the log's back?): recreated it, and its rows are rebuilt from the log")
        }
        count("applied", p.name, n)
        return n
    }

    /// Takes the next batch of events into an effect projection's outbox, with its checkpoint;
    /// no further than its registered dependencies have delivered. Returns how many events it
    /// took in, and how many items it delivered as it took them in (`deliversAsTakenIn`).
    func ingest(_ p: any EffectProjection) async throws -> (ingested: Int, delivered: Int) {
        let turn = turns[p.name]!
        await turn.acquire()
        defer { turn.release() }
        guard let lease = try await own(p.name) else { return (0, 0) }
        let waitsFor = effectProjections.filter { p.dependencies.contains($0.name) }
        let dependencies = waitsFor.map(\.name)
        let cache = caches[p.name]!, shared = folded, readEvents = readEvents
        let coalescing = options.coalesceProgress
        let now = ledger.configuration.clock().milliseconds
        let through: (@Sendable (Database, Int64) throws -> Int64)? = dependencies.isEmpty ? nil : { @Sendable db, from in
            try dependencies.map { try Ledger.frontier(db, of: $0, after: from) }.min() ?? .max
        }
        // Delivered as taken in: stored as sent here, handed over once the step has committed;
        // not while older items of the projection are pending (from another sink, or a run that
        // stopped before delivering them): those go first, from the outbox, in order.
        let asTakenIn = p.deliversAsTakenIn, clock = ledger.configuration.clock
        let skipsImported = p.skipsImportedEvents && ledger.recordsImports
        let sent = Mutex<[OutboxItem]>([])
        let n = try await fenced(p.name) {
            // Each event's state and items made before the write (on a reader, in parallel with
            // the writer, with the receipts of the same snapshot as `through`), stored in it.
            try await ledger.projectionStep(p.name, lease: lease, limit: options.batchSize, through: through, read: readEvents, prepare: { db, events in
                let lookup: ReceiptLookup = { name, target in
                    (try? waitsFor.first { $0.name == name }?.receipt(for: target, db: db)) ?? nil
                }
                let imported = try skipsImported && !events.isEmpty
                    ? ImportedRanges.fetch(db, from: events[0].seq, through: events[events.count - 1].seq) : .none
                var drafts: [[OutboxDraft]] = []
                drafts.reserveCapacity(events.count)
                for e in events {
                    let state = try shared.state(after: e, cache: cache, db: db)
                    drafts.append(imported.contains(e.seq) ? [] : p.items(for: e, state: state, receipts: lookup))
                }
                return drafts
            }, apply: { db, events, drafts in
                let handing = try asTakenIn && !Ledger.hasPendingOutbox(db, p.name)
                // Read in the transaction: after every event it takes in was recorded.
                let sentAt = clock()
                var items: [OutboxItem] = []
                for (e, eventDrafts) in zip(events, drafts) {
                    for draft in eventDrafts {
                        if handing {
                            if try Ledger.insertOutbox(db, p.name, event: e, draft: draft, coalescing: false, now: sentAt.milliseconds, sent: true) {
                                items.append(OutboxItem(sent: draft, of: e, projection: p.name, at: sentAt))
                            }
                        } else {
                            try Ledger.insertOutbox(db, p.name, event: e, draft: draft, coalescing: coalescing, now: now)
                        }
                    }
                }
                // A step retried after a failed transaction replaces what its failed try made.
                sent.withLock { $0 = items }
            })
        } ?? 0
        count("ingested", p.name, n)
        let items = sent.withLock { $0 }
        guard n > 0, !items.isEmpty else { return (n, 0) }
        return (n, await handOver(items, of: p))
    }

    /// Hands items stored as sent to a projection that delivers as it takes in; returns how
    /// many it delivered.
    private func handOver(_ items: [OutboxItem], of p: any EffectProjection) async -> Int {
        let delivery = await p.deliver(items)
        count("delivered", p.name, delivery.delivered.count)
        if let (error, failed) = delivery.failure, !failed.isEmpty {
            var log = options.logger
            log[metadataKey: "projection"] = "\(p.name)"
            log.warning("\(failed.count) item(s) taken in were not delivered (not retried: the destination is in this process): \(error)")
        }
        return delivery.delivered.count
    }
}
