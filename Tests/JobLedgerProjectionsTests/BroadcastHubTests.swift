import Foundation
import JobLedger
import JobLedgerProjections
import Testing

/// The in-process hub: a subscription with a deadline ends by itself, after handing over what
/// was delivered before it, and stops receiving once it has ended.
@Suite struct BroadcastHubTests {
    func publication(_ seq: Int64, stream: String = "job:a") throws -> Publication {
        Publication(stream: stream, message: try BroadcastMessage(text: #"{"seq":\#(seq),"job":"a","version":\#(seq),"type":"progress","state":"running","attempt":1,"progress":0.5}"#))
    }

    @Test func aSubscriptionWithADeadlineEndsByItselfAfterWhatCameBefore() async throws {
        let hub = BroadcastHub()
        let bounded = hub.subscribe(stream: "job:a", for: .milliseconds(200))
        let open = hub.subscribe(stream: "job:a")
        try await hub.deliver([publication(1), publication(2, stream: "job:b"), publication(3)])
        var got: [Int64] = []
        for await p in bounded { got.append(p.message.seq) }  // returns: the deadline ended it
        #expect(got == [1, 3])
        // Delivered after the end: the ended subscription is gone; the other still receives.
        try await hub.deliver([publication(4)])
        hub.finish()
        var later: [Int64] = []
        for await p in open { later.append(p.message.seq) }
        #expect(later == [1, 3, 4])
        #expect(hub.subscriberCount == 0)
    }

    /// A subscription with a heartbeat gets a nil whenever it has been quiet that long, its own
    /// streams' publications in between, and still ends at its deadline.
    @Test func aHeartbeatSubscriptionGetsNilsBetweenPublicationsAndEndsAtItsDeadline() async throws {
        let hub = BroadcastHub()
        // A deadline far past the test: on a loaded machine three beats may take many seconds.
        let beating = hub.subscribe(streams: ["job:a"], for: .seconds(3600), heartbeat: .milliseconds(20))
        try await hub.deliver([publication(1), publication(2, stream: "job:b")])
        var got: [Int64?] = []
        for await p in beating {
            got.append(p?.message.seq)
            if got.filter({ $0 == nil }).count == 3 { break }  // three beats: nothing else came meanwhile
        }
        #expect(got.compactMap { $0 } == [1])  // job:b's is not for it
        #expect(got.filter { $0 == nil }.count == 3)
        // Ends by itself at the deadline (the loop returns), beats or not.
        for await _ in hub.subscribe(streams: nil, for: .milliseconds(100), heartbeat: .milliseconds(10)) {}
        withExtendedLifetime(beating) { #expect(hub.subscriberCount == 1) }  // the first, still open
        hub.finish()
        #expect(hub.subscriberCount == 0)
    }

    /// However short the deadline (here none at all), the subscription ends and leaves the hub.
    @Test func aDeadlineThatHasAlreadyPassedEndsTheSubscriptionAndLeavesNothingBehind() async throws {
        let hub = BroadcastHub()
        for _ in 0..<50 {
            var n = 0
            for await _ in hub.subscribe(stream: "job:a", for: .zero) { n += 1 }
            #expect(n == 0)
        }
        #expect(hub.subscriberCount == 0)
    }
}
