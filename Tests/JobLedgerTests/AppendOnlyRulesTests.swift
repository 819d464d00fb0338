import JobLedger
import Testing

/// Rules a payload meets when it is appended, beyond what decoding a stored one checks (and an
/// import of an older log's export: `PreparedEvent` checks them only for new events).
@Suite struct AppendOnlyRulesTests {
    static let sha = String(repeating: "a", count: 64)

    /// An artefact's content type goes out as an HTTP header (the blob store's upload, a served
    /// blob): one with a line break or another control character was taken.
    @Test(arguments: ["image/png\n", "image/png\r\nX-Injected: 1", "image/\u{0}png", "image/pngé"])
    func aContentTypeThatCannotBeAHeaderIsRefused(type: String) throws {
        for payload in [EventPayload.lowres(.init(asset: AssetRef(sha256: Self.sha, size: 3, contentType: type))),
                        .completed(.init(asset: AssetRef(sha256: Self.sha, size: 3, contentType: type)))] {
            #expect(throws: Never.self) { try payload.validate() }  // a stored one stays readable
            let error = #expect(throws: PayloadError.self) { try payload.checkNewAsset() }
            #expect(error?.description.contains("content_type") == true, "\(String(describing: error))")
        }
        #expect(throws: Never.self) {
            try EventPayload.lowres(.init(asset: AssetRef(sha256: Self.sha, size: 3, contentType: "image/png; q=0.5"))).checkNewAsset()
        }
    }

    /// `RetryPolicy`'s fields are public `var`s; only `init` clamped them, and a negative one set
    /// afterwards made `delay(afterAttempt:using:)` trap (a range with its bounds reversed).
    @Test func aNegativeRetryFieldCountsAsZero() {
        var p = RetryPolicy()
        p.capMilliseconds = -5
        var g = SystemRandomNumberGenerator()
        #expect(p.delay(afterAttempt: 1, using: &g) == 0)
        #expect(p.ceiling(afterAttempt: 3) == 0)
        var q = RetryPolicy(baseMilliseconds: 100, capMilliseconds: 1000)
        q.baseMilliseconds = -100
        #expect(q.delay(afterAttempt: 2, using: &g) == 0)
    }
}
