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

    public init(ledger: Ledger, hub: BroadcastHub, owner: String, interval: Duration = .milliseconds(200)) {
        self.ledger = ledger; self.hub = hub; self.owner = owner; self.interval = interval
    }

    public func run() async throws {
        var relayed = (try? ledger.lastOutboxSeq(.broadcast)) ?? 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            relayed = await relay(after: relayed)
        }
    }

    /// One look at the outbox: hands the hub the messages after `seq` (when it should) and
    /// returns the seq to look after next time.
    func relay(after seq: Int64) async -> Int64 {
        do {
            guard hub.subscriberCount > 0, try ledger.projectionOwner(.broadcast) != owner else {
                return max(seq, try ledger.lastOutboxSeq(.broadcast))
            }
            var last = seq
            while true {
                let items = try ledger.outboxItems(.broadcast, after: last, limit: Self.batch)
                let publications = items.compactMap { item -> Publication? in
                    guard item.status != .coalesced, let message = try? BroadcastMessage(text: item.body) else { return nil }
                    return Publication(stream: item.target, message: message)
                }
                if !publications.isEmpty { try? await hub.deliver(publications) }
                last = items.last?.seq ?? last
                if items.count < Self.batch { return last }
            }
        } catch {
            return seq  // the log could not be read now: the next look tries again
        }
    }
}
