import Foundation
import JobLedger
@testable import JobLedgerServer
import NIOCore
import Testing

/// The SSE bytes of a broadcast message are made once for all its subscribers, and the cache
/// stays within its capacity, dropping the oldest.
@Suite struct RenderedEventsTests {
    func publication(_ seq: Int64, stream: String = "job:a") throws -> Publication {
        Publication(stream: stream, message: try BroadcastMessage(text: #"{"seq":\#(seq),"job":"a","version":\#(seq),"type":"progress","state":"running","attempt":1,"progress":0.5}"#))
    }

    @Test func eachMessageIsRenderedOnceAndTheOldestAreDropped() throws {
        let cache = RenderedEvents(capacity: 3)
        var renders = 0
        func event(_ p: Publication) -> String {
            String(buffer: cache.event(for: p) { renders += 1; return "id: \(p.message.seq)\n\n" })
        }
        for _ in 0..<1000 { #expect(event(try publication(1)) == "id: 1\n\n") }
        #expect(renders == 1)
        // Another stream's message of the same seq is another event.
        _ = event(try publication(1, stream: "job:b"))
        #expect(renders == 2)
        for seq: Int64 in 2...5 { _ = event(try publication(seq)) }
        #expect(cache.count == 3 && renders == 6)
        // The oldest (job:a 1) was dropped: asked again, it is made again; the newest is kept.
        _ = event(try publication(1))
        _ = event(try publication(5))
        #expect(renders == 7)
    }
}
