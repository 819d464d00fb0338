import Foundation
import JobLedger
import JobLedgerSQLite

/// Sends one message per event to the job's stream (`job:<id>`) through a `BroadcastSink`:
/// the job's whole visible state, with the event's `seq` and `version` so clients drop
/// duplicates. Progress messages may be coalesced (a later message of the job supersedes a
/// pending one). Waits for the blob projection, so that `lowres` and `completed` messages
/// carry the published URLs.
public struct BroadcastProjection: EffectProjection {
    public let name = ProjectionName.broadcast
    public let sink: any BroadcastSink
    public let streams: StreamNaming

    public init(sink: any BroadcastSink, streams: StreamNaming = StreamNaming()) {
        self.sink = sink
        self.streams = streams
    }

    public var dependencies: [ProjectionName] { [.blob] }
    public var preferredBatchSize: Int? { sink.preferredBatchSize }
    public var linger: Duration? { sink.linger }

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

    public func json(of draft: OutboxDraft, seq: Int64) -> JSONValue {
        .object(["seq": .int(seq), "effect": "broadcast", "stream": .string(draft.target),
                 "data": (try? JSONValue(parsing: draft.body)) ?? .string(draft.body)])
    }
}
