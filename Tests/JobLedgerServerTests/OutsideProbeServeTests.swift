import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import Testing

/// Faults a probe of the API from outside found: owners compared as Swift strings (canonically
/// equivalent text was one user), the Idempotency-Key checked before the limit counted, any
/// Content-Type read as JSON, a bare 401 with an error code, unusable subjects let through,
/// and `run_at` limited to the `Z` form.
@Suite struct OutsideProbeServeTests {
    static let remaining = HTTPField.Name("RateLimit-Remaining")!
    static let composed = "caf\u{E9}", decomposed = "cafe\u{301}"

    @Test func twoSubjectsThatAreTheSameTextInTwoUnicodeFormsAreTwoUsers() async throws {
        #expect(Self.composed == Self.decomposed, "Swift's String == calls them equal: what the fix guards against")
        let h = try await ServerHarness.make(limit: RateLimitSpec(limit: 10, windowMilliseconds: 60_000)); defer { h.cleanup() }
        h.clock.advance(ms: 60_000 - h.clock.now % 60_000)
        let a = try await h.auth(Self.composed), b = try await h.auth(Self.decomposed)
        try await h.live { c async throws in
            let submitted = try await c.api(.post, "/api/design", "/api/design", headers: a, body: body(#"{"input":{"prompt":"private"}}"#))
            #expect(submitted.status == .accepted && submitted.headers[Self.remaining] == "9")
            let id = try #require(submitted.body.json?["id"]?.stringValue)
            for path in ["/api/jobs/\(id)", "/api/jobs/\(id)/events"] {
                let r = try await c.executeRequest(uri: path, method: .get, headers: b, body: nil)
                #expect(r.status == .notFound, "\(path): \(r.body.text)")
            }
            let own = try await c.executeRequest(uri: "/api/jobs/\(id)", method: .get, headers: a, body: nil)
            #expect(own.status == .ok)
            // Their own bucket: B's first submit has 9 left, not 8.
            let other = try await c.api(.post, "/api/design", "/api/design", headers: b, body: body(#"{"input":{"prompt":"p"}}"#))
            #expect(other.status == .accepted && other.headers[Self.remaining] == "9", "\(other.headers)")
        }
        #expect(!Principal(subject: Self.composed, isAdmin: false).may(access: Self.decomposed))
        #expect(Principal(subject: Self.composed, isAdmin: false) != Principal(subject: Self.decomposed, isAdmin: false))
        let quota = StreamQuota(perCaller: 1)
        let ticket = quota.take(for: Self.composed)
        #expect(ticket != nil && quota.take(for: Self.decomposed) != nil, "one stream each")
    }

    @Test func aBadIdempotencyKeyIsCountedAndAnswersTheLimitsHeaders() async throws {
        let h = try await ServerHarness.make(limit: RateLimitSpec(limit: 4, windowMilliseconds: 60_000)); defer { h.cleanup() }
        h.clock.advance(ms: 60_000 - h.clock.now % 60_000)
        let auth = try await h.auth("user_alice")
        try await h.live { c async throws in
            for (n, key) in ["", "has space"].enumerated() {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth + [JobLedgerServer.idempotencyHeader: key],
                                        body: body(#"{"input":{"prompt":"p"}}"#))
                #expect(r.status == .badRequest, "\(r.body.text)")
                #expect(r.headers[Self.remaining] == "\(3 - n)", "\(r.headers)")
            }
            #expect(try h.ledger.eventCount() == 0)
        }
    }

    @Test func aBodyLabelledAsAnythingButJSONIs415() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        let json = #"{"input":{"prompt":"p"}}"#
        try await h.live { c async throws in
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"] {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth + [.contentType: type], body: body(json))
                #expect(r.status == .unsupportedMediaType, "\(type): \(r.body.text)")
                #expect(r.body.json?["field"] == "Content-Type")
            }
            #expect(try h.ledger.eventCount() == 0)
            for type in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"] {
                let r = try await c.api(.post, "/api/design", "/api/design", headers: auth + [.contentType: type], body: body(json))
                #expect(r.status == .accepted, "\(type): \(r.body.text)")
            }
            let unlabelled = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(json))
            #expect(unlabelled.status == .accepted)
        }
    }

    @Test func aRequestWithNoTokenGetsTheBareChallenge() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let none = try await c.executeRequest(uri: "/api/jobs", method: .get, headers: [:], body: nil)
            #expect(none.status == .unauthorized && none.headers[.wwwAuthenticate] == #"Bearer realm="jobledger""#)
            let bad = try await c.executeRequest(uri: "/api/jobs", method: .get, headers: [.authorization: "Bearer x.y.z"], body: nil)
            #expect(bad.status == .unauthorized && bad.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
        }
    }

    @Test(arguments: ["   ", "a\u{85}b", "a\u{2028}b", "a\u{9F}", "\u{202E}root admin", "a\u{202A}b", "a\u{2066}b", "a\u{2069}"])
    func anUnusableSubjectIsRefused(_ sub: String) async throws {
        let claims = JSONValue.object(["sub": .string(sub), "exp": .int(TokenVerifierHeaderTests.now / 1000 + 60)]).canonicalText
        let token = TokenVerifierHeaderTests.token(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: claims)
        #expect(try await TokenVerifierHeaderTests().refusal(token) == .subject)
    }

    @Test func aPayloadThatIsNotUTF8IsNotAJWT() async throws {
        let exp = TokenVerifierHeaderTests.now / 1000 + 60
        var payload = Data(#"{"sub":"a"#.utf8); payload.append(0xFF); payload.append(contentsOf: Data(#"","exp":\#(exp)}"#.utf8))
        let signingInput = Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8).base64URL + "." + payload.base64URL
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(ServerHarness.secret.utf8)))
        let failure = try await TokenVerifierHeaderTests().refusal(signingInput + "." + Data(mac).base64URL)
        guard case .malformed? = failure else { Issue.record("\(String(describing: failure))"); return }
    }

    @Test func runAtTakesRFC3339Offsets() throws {
        let utc = try #require(Timestamp(iso8601: "2026-12-24T08:00:00Z"))
        for text in ["2026-12-24T09:00:00+01:00", "2026-12-24T08:00:00+00:00", "2026-12-24T08:00:00-00:00", "2026-12-24t08:00:00z",
                     "2026-12-24T03:30:00-04:30", "2026-12-24T08:00:00.000Z"] {
            #expect(Timestamp(rfc3339: text) == utc, "\(text)")
        }
        for text in ["2026-12-24T08:00:00", "2026-12-24T08:00:00+1:00", "2026-12-24T08:00:00+24:00", "2026-12-24T08:00:00+01:60",
                     "2026-12-24T08:00:00+0100", "2026-12-24 08:00:00Z"] {
            #expect(Timestamp(rfc3339: text) == nil, "\(text)")
        }
        for (text, field) in [(#"{"input":{"prompt":"p"},"run_at":"0000-01-01T00:00:00Z"}"#, "run_at"),
                              (#"{"input":{"prompt":"p"},"run_at":"2026-12-24T08:00:00"}"#, "run_at")] {
            do throws(Problem) {
                _ = try SubmitRequest(parsing: text, schema: .design)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.field == field, "\(error)")
            }
        }
        #expect(try SubmitRequest(parsing: #"{"input":{"prompt":"p"},"run_at":"2026-12-24T09:00:00+01:00"}"#, schema: .design).runAt == utc)
    }
}
