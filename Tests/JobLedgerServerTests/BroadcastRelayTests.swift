import Foundation
import Hummingbird
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
@testable import JobLedgerServer
import JobLedgerSQLite
import Logging
import Testing

/// A process that does not hold the broadcast projection (another process on the same log took
/// it) still streams every message live: its relay hands its hub what the holder wrote.
@Suite struct BroadcastRelayTests {
    @Test func aStreamStaysLiveOnAProcessThatDoesNotHoldTheBroadcastProjection() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        // The other process: its own runner and hub, on the same log and blob folder.
        var o = ProjectionRunner.Options()
        o.owner = "another-host/ns:1"
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let other = ProjectionRunner(ledger: h.ledger, blobs: LocalFolderBlobStore(path: h.dir.appendingPathComponent("log.sqlite.blobs").path),
                                     broadcasts: BroadcastHub(), options: o)
        let relay = BroadcastRelay(ledger: h.ledger, hub: h.hub, owner: h.runner.options.owner)
        let otherOwner = o.owner
        let token = try await h.token()
        let id = try await h.engine.submit(kind: "design", input: ["prompt": "p"], owner: "user_alice")
        _ = try await other.catchUp()
        #expect(try h.ledger.projectionOwner(.broadcast) == o.owner)

        // Nobody subscribed here: the relay only moves past what is there.
        let start = try h.ledger.lastOutboxSeq(.broadcast)
        #expect(await relay.relay(after: 0).0 == start && h.hub.deliveredCount == 0)

        try await h.live { c async throws in
            let port = try #require(c.port)
            let stream = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/jobs/\(id)/stream?access_token=\(token)")!)
            let backlog = await stream.next(1)  // queued, from the outbox; the subscription is made before it is read
            #expect(backlog.map(\.id) == [start])
            try await h.engine.workUntilIdle()
            _ = try await other.catchUp()
            // The holder of the projection relays nothing (its runner feeds its hub)...
            let holder = BroadcastRelay(ledger: h.ledger, hub: h.hub, owner: otherOwner)
            let (moved, held) = await holder.relay(after: start, wasHolder: true)
            #expect(moved > start && held && h.hub.deliveredCount == 0)
            // ...except right after it took the projection over: what the previous holder
            // committed since the last look reached only that holder's hub. (Relayed twice
            // here, below: the stream writes each seq once.)
            _ = await holder.relay(after: start, wasHolder: false)
            #expect(h.hub.deliveredCount > 0)
            let (end, holds) = await relay.relay(after: start)
            #expect(!holds)
            #expect(end == (try h.ledger.lastOutboxSeq(.broadcast)))
            var rest: [SSEReader.Event] = []
            for await e in stream.events { rest.append(e) }  // ends after the terminal message
            let expected = try h.ledger.outboxItems(.broadcast, after: start, job: id).filter { $0.status != .coalesced }.map(\.seq)
            #expect(!expected.isEmpty && rest.map(\.id) == expected, "\(rest.map(\.id)) vs \(expected)")
            #expect(rest.last?.data.contains("\"completed\"") == true)
            // A second look finds nothing new and sends nothing twice.
            let delivered = h.hub.deliveredCount
            #expect(await relay.relay(after: end).0 == end && h.hub.deliveredCount == delivered)
        }
    }
}
