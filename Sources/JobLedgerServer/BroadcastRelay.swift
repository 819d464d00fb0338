import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import ServiceLifecycle

/// Keeps the SSE streams of a process that does not hold the broadcast projection live. Only
/// the process holding it hands messages to its in-process hub as it takes events in; on any
/// other process sharing the log (an API-only `serve --workers 0` beside `jobledger work`, the
/// second of two `serve`s) the hub heard nothing, and its streams went quiet after their
/// backlog. The relay follows the broadcast outbox that the holder writes and hands each new
/// message to this process's hub; a stream drops what it already has (it writes only seqs above
/// its last), so a message relayed twice is harmless. It reads nothing while this process holds
/// the projection or nobody here is subscribed: then it only moves past what is there.
public final class BroadcastRelay: Service {
    let ledger: Ledger
    let hub: BroadcastHub
    /// The owner name of this process's projection runner (`ProjectionRunner.Options.owner`).
    let owner: String
    /// How often the outbox is looked at: a relayed message reaches a stream this much later
    /// (at most) than on the holder's own streams.
    let interval: Duration
    /// Items read per look.
    static let batch = 1000

    /// A relay from `ledger`'s broadcast outbox into `hub`, for the process whose projection runner
    /// is named `owner`; it looks every `interval` (200 ms by default).
    public init(ledger: Ledger, hub: BroadcastHub, owner: String, interval: Duration = .milliseconds(200)) {
        self.ledger = ledger; self.hub = hub; self.owner = owner; self.interval = interval
    }

    /// Looks at the outbox every `interval` until graceful shutdown or cancellation. Never throws: a
    /// look that fails is tried again at the next one.
    public func run() async throws {
        var relayed: Int64?  // nil until the outbox could be read once
        var wasHolder = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            guard let from = relayed ?? (try? ledger.lastOutboxSeq(.broadcast)) else { continue }
            (relayed, wasHolder) = await relay(after: from, wasHolder: wasHolder)
        }
    }

    /// One look at the outbox: hands the hub the messages after `seq` (when it should) and
    /// returns the seq to look after next time, and whether this process held the projection.
    ///
    /// The outbox's last seq is read first and nothing past it is skipped, so an item committed
    /// meanwhile is seen next time. While this process holds the projection its runner feeds the
    /// hub; but when it has just taken the projection over, the items the previous holder
    /// committed since the last look reached only that holder's hub, so they are relayed once.
    func relay(after seq: Int64, wasHolder: Bool = false) async -> (Int64, Bool) {
        do {
            let last = try ledger.lastOutboxSeq(.broadcast)
            let holds = try ledger.projectionOwner(.broadcast) == owner
            guard hub.subscriberCount > 0, !holds || !wasHolder else { return (max(seq, last), holds) }
            var done = seq
            while done < last {
                let items = try ledger.outboxItems(.broadcast, after: done, limit: Self.batch).filter { $0.seq <= last }
                let publications = items.compactMap { item -> Publication? in
                    guard item.status != .coalesced, let message = try? BroadcastMessage(text: item.body) else { return nil }
                    return Publication(stream: item.target, message: message)
                }
                if !publications.isEmpty { try? await hub.deliver(publications) }
                guard let next = items.last?.seq else { break }
                done = next
            }
            return (max(seq, last), holds)
        } catch {
            return (seq, wasHolder)  // the log could not be read now: the next look tries again
        }
    }
}
