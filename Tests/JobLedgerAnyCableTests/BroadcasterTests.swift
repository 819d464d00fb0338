import Foundation
import JobLedger
import Logging
import Synchronization
import Testing
@testable import JobLedgerAnyCable

/// Against the real stand-in process over loopback.
@Suite("AnyCable broadcaster against the stand-in")
struct BroadcasterStandInTests {
    static let key = "standin-key-7f3e9c"

    func publications(_ n: Int, jobs: Int = 3) -> [Publication] {
        (0..<n).map { i in
            let job = "job-\(i % jobs)"
            return Publication(stream: "job:\(job)", message: message(job: job, version: i / jobs + 1, seq: Int64(i + 1)))
        }
    }

    @Test func deliversOnePublicationWithDataAsAJSONString() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key))
        let p = publications(1)
        try await b.deliver(p)
        let got = try await standIn.received()
        #expect(got == [AnyCablePublication(stream: "job:job-0", data: p[0].message.text)])
        // The data string is the message's JSON and reads back as the same message.
        #expect(try BroadcastMessage(text: got[0].data) == p[0].message)
    }

    @Test func batchesSplitIntoRequestsOfAtMostBatchSizeInOrder() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let config = AnyCableConfiguration(broadcastURL: standIn.broadcastURL, broadcastKey: AnyCableSecret(Self.key),
                                           batchSize: 4)
        let b = try AnyCableBroadcaster(configuration: config)
        let first = publications(10)
        try await b.deliver(first)
        var stats = try await standIn.stats()
        #expect(stats.requests == 3)  // 4 + 4 + 2
        #expect(stats.byStatus == ["201": 3])
        let second = Array(publications(17).suffix(9))
        try await b.deliver(second)
        stats = try await standIn.stats()
        #expect(stats.requests == 6)  // + 4 + 4 + 1
        #expect(stats.malformed == 0)
        let got = try await standIn.received()
        #expect(got == (first + second).map { AnyCablePublication(stream: $0.stream, data: $0.message.text) })
    }

    @Test func emptyDeliverSendsNothing() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key)).deliver([])
        #expect(try await standIn.stats().requests == 0)
    }

    @Test func keyDerivedFromSecretIsAccepted() async throws {
        // A server started with only --secret=qwerty expects the derived key.
        let standIn = try await StandIn.start(key: "42923a28b760e667fc92f7c6123bb07a282822b329dd2ef48e7aee7830d98485")
        defer { standIn.stop() }
        let config = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": standIn.broadcastURL.absoluteString,
                                                             "ANYCABLE_SECRET": "qwerty"])
        try await AnyCableBroadcaster(configuration: config).deliver(publications(2))
        #expect(try await standIn.received().count == 2)
    }

    @Test func wrongKeyIsRejectedWithAHelpfulMessageWithoutTheKey() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let wrong = "wrong-key-5d1b2a"
        let logs = LogCapture()
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(wrong), logger: logs.logger)
        do {
            try await b.deliver(publications(2))
            Issue.record("expected a rejection")
        } catch {
            guard case .rejected(let m) = error else { Issue.record("expected .rejected, got \(error)"); return }
            #expect(m.contains("401"))
            #expect(m.contains("ANYCABLE_BROADCAST_KEY"))
            #expect(m.contains("ANYCABLE_SECRET"))
            #expect(!m.contains(wrong))
            #expect(!m.contains(Self.key))
        }
        #expect(try await standIn.received().isEmpty)
        #expect(!logs.lines.isEmpty)
        #expect(!logs.lines.contains { $0.contains(wrong) })
    }

    @Test func wrongPathMethodIs422Rejected() async throws {
        // A proxy that turns the POST into a GET: simulated with a transport that rewrites the method.
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key),
                                    transport: MethodRewriter(method: "GET", inner: URLSessionTransport()))
        do {
            try await b.deliver(publications(1))
            Issue.record("expected a rejection")
        } catch {
            guard case .rejected(let m) = error else { Issue.record("expected .rejected, got \(error)"); return }
            #expect(m.contains("422"))
            #expect(m.contains("ANYCABLE_BROADCAST_URL"))
            #expect(!m.contains(Self.key))
        }
        #expect(try await standIn.stats().byStatus == ["422": 1])
    }

    @Test func serviceUnavailableIsRetryableAndThenSucceeds() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 503, "count": 1])
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key))
        let p = publications(3)
        await #expect(throws: SinkError.unavailable("AnyCable at http://127.0.0.1:\(standIn.port)/_broadcast answered 503", retryAfterMilliseconds: nil)) {
            try await b.deliver(p)
        }
        try await b.deliver(p)  // what the runner does next
        #expect(try await standIn.received().count == 3)
        #expect(try await standIn.stats().byStatus == ["503": 1, "201": 1])
    }

    @Test func tooManyRequestsCarriesRetryAfter() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "2", "count": 1])
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key))
        do {
            try await b.deliver(publications(1))
            Issue.record("expected .unavailable")
        } catch {
            guard case .unavailable(_, let after) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(after == 2000)
        }
    }

    @Test func serverErrorWithRetryAfterDate() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 502, "retry_after": "Wed, 21 Oct 2015 07:28:30 GMT", "count": 1])
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), now: { now })
        do {
            try await b.deliver(publications(1))
            Issue.record("expected .unavailable")
        } catch {
            guard case .unavailable(_, let after) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(after == 30_000)
        }
    }

    @Test func droppedConnectionIsUnavailable() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "drop", "count": 1])
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key))
        do {
            try await b.deliver(publications(2))
            Issue.record("expected .unavailable")
        } catch {
            guard case .unavailable(let m, let after) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(after == nil)
            #expect(!m.contains(Self.key))
        }
        #expect(try await standIn.stats().dropped == 1)
        #expect(try await standIn.received().isEmpty)
    }

    @Test func timeoutIsUnavailable() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "delay", "ms": 5000, "count": 1])
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), requestTimeout: .milliseconds(300))
        do {
            try await b.deliver(publications(1))
            Issue.record("expected .unavailable")
        } catch {
            guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); return }
        }
    }

    @Test func connectionRefusedIsUnavailable() async throws {
        // A stand-in that has stopped: nothing listens on its port any more.
        let standIn = try await StandIn.start(key: Self.key)
        standIn.stop()
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key))
        // Fails when nothing throws (#expect(throws:) records that), and when the error is of
        // the wrong kind.
        let error = await #expect(throws: SinkError.self) { try await b.deliver(publications(1)) }
        switch error {
        case .unavailable?, nil: break
        case let other?: Issue.record("expected .unavailable, got \(other)")
        }
    }

    /// A redirect from the configured endpoint to another address (another port, another host
    /// name for this machine) is never followed: the second server sees no request, so the key
    /// never reaches it, and the broadcast is refused as a configuration error that says where
    /// the redirect pointed, without the key or secret-looking query values.
    @Test(arguments: [(307, "127.0.0.1"), (308, "localhost"), (301, "localhost"), (302, "127.0.0.1"), (303, "localhost")])
    func aRedirectIsNotFollowedAndTheKeyStaysHome(status: Int, host: String) async throws {
        let first = try await StandIn.start(key: Self.key)
        defer { first.stop() }
        let second = try await StandIn.start(key: Self.key)
        defer { second.stop() }
        let target = "http://\(host):\(second.port)/_broadcast?token=tok-Q9Q9"
        try await first.fault(["mode": "redirect", "status": .int(Int64(status)), "location": .string(target), "count": 1])
        let b = AnyCableBroadcaster(url: first.broadcastURL, key: AnyCableSecret(Self.key))
        do {
            try await b.deliver(publications(1))
            Issue.record("a \(status) must not count as a delivery")
        } catch {
            guard case .rejected(let m) = error else { Issue.record("expected .rejected, got \(error)"); return }
            #expect(m.contains("\(status)"), "\(m)")
            #expect(m.contains("redirect"), "\(m)")
            #expect(m.contains("http://\(host):\(second.port)/_broadcast?token=<redacted>"), "says where it pointed: \(m)")
            #expect(m.contains("ANYCABLE_BROADCAST_URL"), "\(m)")
            #expect(!m.contains(Self.key) && !m.contains("tok-Q9Q9"), "\(m)")
        }
        let stats = try await second.stats()
        #expect(stats.requests == 0 && stats.withAuthorization == 0, "the redirect target was contacted: \(stats)")
        #expect(try await first.stats().byStatus == ["\(status)": 1])
        #expect(try await second.received().isEmpty)
    }

    /// The transport itself hands a 3xx back as the response (for any caller, not only the
    /// broadcaster), with its Location, and goes nowhere else.
    @Test func theTransportReturnsARedirectInsteadOfFollowingIt() async throws {
        let first = try await StandIn.start(key: nil)
        defer { first.stop() }
        let second = try await StandIn.start(key: nil)
        defer { second.stop() }
        let location = "http://localhost:\(second.port)/_broadcast"
        try await first.fault(["mode": "redirect", "location": .string(location), "count": 1])
        let response = try await URLSessionTransport().send(HTTPRequest(
            method: "POST", url: first.broadcastURL, headers: [("Authorization", "Bearer \(Self.key)")],
            body: Data(#"{"stream":"s","data":"x"}"#.utf8)))
        #expect(response.status == 307)
        #expect(response.header("Location") == location)
        #expect(try await second.stats().requests == 0)
    }

    /// Errors name the endpoint the way the description does: no user info, no secret-looking
    /// query value, no key.
    @Test func errorsRedactCredentialsInTheURL() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        standIn.stop()  // nothing listens: the delivery fails with a message naming the endpoint
        let url = URL(string: "http://ops:pw-Z7Z7@127.0.0.1:\(standIn.port)/_broadcast?access_token=at-Z7Z7&region=eu")!
        let logs = LogCapture()
        let b = AnyCableBroadcaster(url: url, key: AnyCableSecret(Self.key), logger: logs.logger)
        let error = await #expect(throws: SinkError.self) { try await b.deliver(publications(1)) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("http://<redacted>@127.0.0.1:\(standIn.port)/_broadcast?access_token=<redacted>&region=eu"), "\(text)")
        for leaked in ["pw-Z7Z7", "at-Z7Z7", "ops:", Self.key] {
            #expect(!text.contains(leaked), "\(leaked) in \(text)")
            #expect(!logs.lines.contains { $0.contains(leaked) }, "\(leaked) logged")
        }
    }

    @Test func laterChunkFailureFailsTheWholeDeliver() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        // First request passes (delay 0), second gets 503.
        try await standIn.fault(["mode": "delay", "ms": 0, "count": 1])
        try await standIn.fault(["mode": "status", "status": 503, "count": 1])
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), batchSize: 2)
        await #expect(throws: SinkError.self) { try await b.deliver(publications(5)) }
        let stats = try await standIn.stats()
        #expect(stats.requests == 2)  // stopped at the failing chunk
        #expect(try await standIn.received().count == 2)
    }

    @Test func invalidPublicationIsRefusedBeforeSending() async throws {
        let standIn = try await StandIn.start(key: Self.key)
        defer { standIn.stop() }
        let b = AnyCableBroadcaster(url: standIn.broadcastURL, key: AnyCableSecret(Self.key), batchSize: 1)
        var p = publications(3)
        p[2].stream = ""
        do {
            try await b.deliver(p)
            Issue.record("expected a rejection")
        } catch {
            guard case .rejected(let m) = error else { Issue.record("expected .rejected, got \(error)"); return }
            #expect(m.contains("publication 3 of 3"))
            #expect(m.contains("empty stream"))
        }
        await #expect(throws: SinkError.self) {
            try await b.send([AnyCablePublication(stream: "job:1", data: "")])
        }
        let stats = try await standIn.stats()
        #expect(stats.requests == 0)
        #expect(try await standIn.received().isEmpty)
    }
}
