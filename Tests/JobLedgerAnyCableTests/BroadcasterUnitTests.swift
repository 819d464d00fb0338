import Foundation
import JobLedger
import Logging
import Synchronization
import Testing
@testable import JobLedgerAnyCable

/// Classification and encoding without a server.
@Suite("AnyCable broadcaster units")
struct BroadcasterUnitTests {
    @Test(arguments: [
        (200, "ok"), (201, "ok"), (204, "ok"), (401, "rejected"), (403, "rejected"), (404, "rejected"), (422, "rejected"),
        (400, "rejected"), (408, "unavailable"), (429, "unavailable"), (500, "unavailable"), (501, "unavailable"),
        (502, "unavailable"), (503, "unavailable"), (504, "unavailable"), (301, "rejected"), (302, "rejected"),
        (307, "rejected"), (308, "rejected"),
    ])
    func statusClassification(status: Int, expected: String) {
        let result = AnyCableBroadcaster.classify(HTTPResponse(status: status), endpoint: "http://h/_broadcast")
        switch result {
        case nil: #expect(expected == "ok")
        case .rejected?: #expect(expected == "rejected")
        case .unavailable?: #expect(expected == "unavailable")
        }
    }

    /// The broadcaster's public description (and `dump`, and string interpolation) shows where
    /// it broadcasts, never a credential: user info, secret-looking query values, the key.
    @Test func descriptionRedactsCredentialsInTheURL() throws {
        let url = try #require(URL(string: "https://deploy:pa55-S3CR3T@cable.example.com:8443/_broadcast?region=eu&token=tok-S3CR3T&sig=s1g-S3CR3T&x=Zm9vYmFyMTIzNDU2Nzg5MA#frag-S3CR3T"))
        let b = AnyCableBroadcaster(url: url, key: AnyCableSecret("key-S3CR3T"), batchSize: 50)
        var dumped = ""
        dump(b, to: &dumped)
        for text in [b.description, b.debugDescription, "\(b)", String(reflecting: b), dumped] {
            for secret in ["S3CR3T", "deploy", "pa55", "Zm9vYmFy"] { #expect(!text.contains(secret), "\(secret) leaked: \(text)") }
            #expect(text.contains("https://<redacted>@cable.example.com:8443/_broadcast?region=eu&token=<redacted>&sig=<redacted>&x=<redacted>"), "\(text)")
        }
        #expect(b.description.contains("key: <redacted>"))
        #expect(b.description.contains("batchSize: 50"))
        #expect(AnyCableBroadcaster(url: URL(string: "http://127.0.0.1:8090/_broadcast")!, key: nil).description
            == "AnyCableBroadcaster(url: http://127.0.0.1:8090/_broadcast, key: none, batchSize: 100, requestTimeout: 10.0 seconds, linger: 0.0 seconds)")
    }

    @Test(arguments: [
        ("http://h:1/_broadcast", "http://h:1/_broadcast"),
        ("http://u@h/_broadcast", "http://<redacted>@h/_broadcast"),
        ("http://h/p?a=1&b=2", "http://h/p?a=1&b=2"),
        ("http://h/p?api_key=k&X-Amz-Signature=abc&password=p&auth=a&page=2", "http://h/p?api_key=<redacted>&X-Amz-Signature=<redacted>&password=<redacted>&auth=<redacted>&page=2"),
        ("http://h/p?id=0195f3a21b2c7d4e8f00", "http://h/p?id=<redacted>"),
        ("http://h/p?flag", "http://h/p?flag"),
        ("http://[::1]:8080/_broadcast?t", "http://[::1]:8080/_broadcast?t"),
        ("http://h/p#secret", "http://h/p"),
        // A key put in the path: a run that reads like a generated token.
        ("http://127.0.0.1:1/ACSECRETv4n8b2c6x0zQQ/_broadcast", "http://127.0.0.1:1/<redacted>/_broadcast"),
        ("http://h/_broadcast;key=ACSECRETv4n8b2c6x0zQQ", "http://h/_broadcast;key=<redacted>"),
        ("http://h/_broadcast%20ACSECRETv4n8b2c6x0zQQ", "http://h/_broadcast%<redacted>"),
        ("http://h/cable/v1/_broadcast", "http://h/cable/v1/_broadcast"),
    ])
    func urlRedaction(url: String, shown: String) throws {
        #expect(AnyCableConfiguration.redacted(try #require(URL(string: url))) == shown)
    }

    /// The key (and, from a configuration, its other secrets) is hidden wherever it is in the
    /// URL, however short or plain: it was shown whole in every error, `projections` and
    /// `/api/projections`.
    @Test func theKeyIsHiddenWhereverItIsInTheURL() throws {
        let url = try #require(URL(string: "http://127.0.0.1:1/s3cret/_broadcast"))
        let b = AnyCableBroadcaster(url: url, key: AnyCableSecret("s3cret"))
        #expect(b.description.contains("url: http://127.0.0.1:1/<redacted>/_broadcast"), "\(b.description)")
        var config = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "http://h/plainsecret/_broadcast", "ANYCABLE_BROADCAST_KEY": "k",
                                                              "ANYCABLE_STREAMS_SECRET": "plainsecret"])
        #expect(!config.redactedBroadcastURL.contains("plainsecret"), "\(config.redactedBroadcastURL)")
        config.broadcastKey = AnyCableSecret("plainsecret")
        #expect(!(try AnyCableBroadcaster(configuration: config)).description.contains("plainsecret"))
    }

    @Test func aRedirectNamesWhereItPointedRelativeOrAbsolute() {
        let base = URL(string: "http://cable.example.com/_broadcast")!
        for (location, shown) in [("/moved/_broadcast", "http://cable.example.com/moved/_broadcast"),
                                  ("https://other.example.com/_broadcast?key=k-1", "https://other.example.com/_broadcast?key=<redacted>")] {
            let r = AnyCableBroadcaster.classify(HTTPResponse(status: 308, headers: ["Location": location]), endpoint: "e", url: base)
            guard case .rejected(let m)? = r else { Issue.record("expected .rejected, got \(String(describing: r))"); continue }
            #expect(m.contains("redirect to \(shown)."), "\(m)")
        }
        guard case .rejected(let m)? = AnyCableBroadcaster.classify(HTTPResponse(status: 302), endpoint: "e") else {
            Issue.record("expected .rejected"); return
        }
        #expect(m.contains("no Location"))
    }

    @Test func retryAfterForms() {
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(RetryAfter.milliseconds("2", now: now) == 2000)
        #expect(RetryAfter.milliseconds(" 0 ", now: now) == 0)
        #expect(RetryAfter.milliseconds("Wed, 21 Oct 2015 07:28:05 GMT", now: now) == 5000)
        #expect(RetryAfter.milliseconds("Wednesday, 21-Oct-15 07:28:10 GMT", now: now) == 10_000)
        #expect(RetryAfter.milliseconds("Wed Oct 21 07:28:20 2015", now: now) == 20_000)
        let nov6 = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.milliseconds("Sun Nov  6 08:49:47 1994", now: nov6) == 10_000)
        #expect(RetryAfter.milliseconds("Sun, 06 Nov 1994 08:49:40 GMT", now: nov6) == 3000)
        #expect(RetryAfter.milliseconds("Wed, 21 Oct 2015 07:27:00 GMT", now: now) == 0)
        #expect(RetryAfter.milliseconds("soon", now: now) == nil)
        #expect(RetryAfter.milliseconds("-5", now: now) == nil)
        let r = AnyCableBroadcaster.classify(HTTPResponse(status: 503, headers: ["retry-after": "7"]), endpoint: "e")
        #expect(r == .unavailable("AnyCable at e answered 503", retryAfterMilliseconds: 7000))
    }

    /// The key is taken out of the server's text only: run over the whole message, the
    /// redaction took out JobLedger's own words that the key shares ("broadcast" from the key
    /// below, in the endpoint's `/_broadcast`), which told what the key holds. A `Location`
    /// that quotes the key is still redacted.
    @Test func theKeyIsRedactedFromTheServersTextNotFromOurOwnWords() async throws {
        struct Answer: HTTPTransport {
            let response: HTTPResponse
            func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse { response }
        }
        let key = "s3cret-broadcast-key-123", url = URL(string: "http://h:1/_broadcast")!
        func failure(_ response: HTTPResponse) async -> String {
            let b = AnyCableBroadcaster(url: url, key: AnyCableSecret(key), transport: Answer(response: response))
            do { try await b.deliver([Publication(stream: "job:a", message: message(job: "a", version: 1, seq: 1))]); return "delivered" } catch { return "\(error)" }
        }
        let unavailable = await failure(HTTPResponse(status: 503))
        #expect(unavailable.contains("http://h:1/_broadcast answered 503") && !unavailable.contains("redacted"), "\(unavailable)")
        let redirect = await failure(HTTPResponse(status: 307, headers: ["Location": "http://elsewhere/x/\(key)/y"]))
        #expect(!redirect.contains(key) && !redirect.contains("s3cret-broadcast") && redirect.contains("<redacted>"), "\(redirect)")
        #expect(redirect.contains("the broadcast key must not be sent anywhere else"), "our own words stay: \(redirect)")
    }

    @Test func requestShape() async throws {
        let recorder = Recorder()
        let b = AnyCableBroadcaster(url: URL(string: "http://h:1/_broadcast")!, key: "k-1", transport: recorder)
        let m1 = message(job: "a", version: 1, seq: 1), m2 = message(job: "a", version: 2, seq: 2)
        try await b.deliver([Publication(stream: "job:a", message: m1)])
        try await b.deliver([Publication(stream: "job:a", message: m1), Publication(stream: "job:a", message: m2)])
        let requests = recorder.requests
        #expect(requests.count == 2)
        for r in requests {
            #expect(r.method == "POST")
            #expect(r.headers.contains { $0.name == "Authorization" && $0.value == "Bearer k-1" })
            #expect(r.headers.contains { $0.name == "Content-Type" && $0.value == "application/json" })
        }
        // One publication: an object; several: an array. `data` is always a JSON string.
        let one = try JSONValue(parsing: String(decoding: requests[0].body, as: UTF8.self))
        #expect(one == .object(["stream": "job:a", "data": .string(m1.text)]))
        let two = try JSONValue(parsing: String(decoding: requests[1].body, as: UTF8.self))
        #expect(two == .array([.object(["stream": "job:a", "data": .string(m1.text)]),
                               .object(["stream": "job:a", "data": .string(m2.text)])]))
    }

    @Test func noAuthorizationHeaderWhenKeyIsDisabled() async throws {
        let recorder = Recorder()
        let b = AnyCableBroadcaster(url: URL(string: "http://h:1/_broadcast")!, key: nil, transport: recorder)
        try await b.deliver([Publication(stream: "job:a", message: message(job: "a", version: 1, seq: 1))])
        #expect(!recorder.requests[0].headers.contains { $0.name == "Authorization" })
    }
}
