import Foundation
import JobLedger
import JobLedgerSQLite

/// Sends one message per event to the job's stream (`job:<id>`) through a `BroadcastSink`:
/// the job's whole visible state, with the event's `seq` and `version` so clients drop
/// duplicates. Progress messages may be coalesced (a later message of the job supersedes a
/// pending one). Waits for the blob projection, so that `lowres` and `completed` messages
/// carry the published URLs. `Docs/Broadcast.md` is the message schema and its delivery rules.
///
/// `ProjectionRunner(ledger:broadcasts:…)` registers it for you, with
/// `ProjectionRunner.Options.streams`.
public struct BroadcastProjection: EffectProjection {
    /// `broadcast`.
    public let name = ProjectionName.broadcast
    /// Where the messages go.
    public let sink: any BroadcastSink
    /// How a job's stream is named.
    public let streams: StreamNaming

    /// Broadcasts to `sink`, on streams named by `streams` (`job:<id>` by default).
    public init(sink: any BroadcastSink, streams: StreamNaming = StreamNaming()) {
        self.sink = sink
        self.streams = streams
    }

    /// The blob projection, when registered: messages carry the URLs it published.
    public var dependencies: [ProjectionName] { [.blob] }
    /// When the sink is in this process (`BroadcastSink.isInProcess`, the hub).
    public var deliversAsTakenIn: Bool { sink.isInProcess }
    /// The sink's own limit (`BroadcastSink.preferredBatchSize`).
    public var preferredBatchSize: Int? { sink.preferredBatchSize }
    /// The sink's linger (`BroadcastSink.linger`).
    public var linger: Duration? { sink.linger }

    /// One message per event, on the job's stream; a progress message is supersedable (a
    /// later message of the job replaces it while it is still pending).
    public func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        let m = message(for: event, state: state, receipts: receipts)
        return [OutboxDraft(target: streams.stream(for: state.id), body: m.text, supersedable: event.type == .progress)]
    }

    /// The message for an event, given the job's state after it.
    public func message(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> BroadcastMessage {
        let paths = state.artefactPathnames
        let preview = paths.preview.flatMap { receipts(.blob, $0.description) }
        let result = paths.result.flatMap { receipts(.blob, $0.description) }
        return BroadcastMessage(event: event.type, seq: event.seq, state: state, previewURL: preview, resultURL: result)
    }

    /// Sends the batch in one call: all delivered, or all failed.
    public func deliver(_ items: [OutboxItem]) async -> Delivery {
        var publications: [Publication] = []
        for item in items {
            guard let message = try? BroadcastMessage(text: item.body) else {
                return .failed([item], .rejected("outbox item \(item.seq) does not hold a valid message"), after: [OutboxItem]())
            }
            publications.append(Publication(stream: item.target, message: message))
        }
        do {
            try await sink.deliver(publications)
        } catch {
            return .failed(items, error, after: [OutboxItem]())
        }
        return .delivered(items)
    }

    /// `{"seq", "effect": "broadcast", "stream", "data": <the message>}`.
    public func json(of draft: OutboxDraft, seq: Int64) -> JSONValue {
        .object(["seq": .int(seq), "effect": "broadcast", "stream": .string(draft.target),
                 "data": (try? JSONValue(parsing: draft.body)) ?? .string(draft.body)])
    }
}
