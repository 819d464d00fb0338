import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerAnyCable
import JobLedgerServer
import Testing

/// The `anycable` object in the 202 of a submit when `serve` broadcasts to AnyCable: the job's
/// stream signed with the streams secret (Rails' MessageVerifier format, recomputed here with
/// swift-crypto), a short-lived client JWT (HS256 with the JWT secret, `ext` naming the caller),
/// the public WebSocket URL; only what is configured, and as the OpenAPI document says.
@Suite struct AnyCableGrantTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#
    // Two different secrets, so a grant signed with the wrong one is caught.
    static let streamsSecret = "anycable-streams-secret-0123456789abcdef"
    static let jwtSecret = "anycable-jwt-secret-fedcba9876543210fedcba"
    static let publicURL = "wss://cable.example.com/cable"
    static let ttlSeconds: Int64 = 300

    static func configuration(streams: Bool = true, jwt: Bool = true, publicURL: String? = Self.publicURL) -> AnyCableConfiguration {
        AnyCableConfiguration(broadcastURL: URL(string: "http://127.0.0.1:8090/_broadcast"), broadcastKey: "broadcast-key",
                              streamsSecret: streams ? AnyCableSecret(streamsSecret) : nil, jwtSecret: jwt ? AnyCableSecret(jwtSecret) : nil,
                              publicURL: publicURL)
    }

    /// With broadcasts going to AnyCable there is no SSE stream here: 409, saying where to
    /// subscribe, and, when this server signs no stream names, that it does not (the submit
    /// response then has no signed stream to point to).
    @Test(arguments: [true, false])
    func theStreamRoutesSayWhereToSubscribe(signs: Bool) async throws {
        let h = try await ServerHarness.make(anycable: Self.configuration(streams: signs), serverHub: false)
        defer { h.cleanup() }
        let auth = try await h.auth("user_alice")
        try await h.live { c in
            let id = try await c.submitDesign(auth)
            for path in ["/api/jobs/\(id)/stream", "/api/live?jobs=\(id)"] {
                let r = try await c.executeRequest(uri: path, method: .get, headers: auth, body: nil)
                #expect(r.status == .conflict, "\(path)")
                let detail = r.body.json?["detail"]?.stringValue ?? ""
                #expect(detail.contains("AnyCable"), "\(detail)")
                #expect(detail.contains("signs no stream names") == !signs, "\(detail)")
            }
        }
    }

    @Test func the202CarriesASignedStreamAndAClientJWTThatVerify() async throws {
        let h = try await ServerHarness.make(anycable: Self.configuration(), streams: StreamNaming(prefix: "design/"))
        defer { h.cleanup() }
        for sub in ["user_alice", "user_bob"] {
            let auth = try await h.auth(sub)
            let before = Int64(Date().timeIntervalSince1970)
            let r = try await h.live { c in try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design)) }
            let after = Int64(Date().timeIntervalSince1970)
            #expect(r.status == .accepted, "\(r.body.text)")
            let j = try #require(r.body.json)
            let id = try #require(j["id"]?.stringValue)
            let stream = try #require(j["stream"]?.stringValue)
            #expect(stream == "design/\(id)")   // the server's stream naming, not the default
            let grant = try #require(j["anycable"])
            guard case .object(let fields) = grant else { Issue.record("anycable is not an object"); return }
            #expect(Set(fields.keys) == ["signed_stream", "token", "url"])
            #expect(grant["url"]?.stringValue == Self.publicURL)

            // The signed stream: standard padded base64 of the stream's JSON, "--", the hex HMAC.
            let signed = try #require(grant["signed_stream"]?.stringValue)
            let parts = signed.components(separatedBy: "--")
            try #require(parts.count == 2)
            let named = try #require(Data(base64Encoded: parts[0]))
            #expect(String(decoding: named, as: UTF8.self) == "\"design/\(id)\"")
            #expect(parts[1] == Self.hexHMAC(key: Self.streamsSecret, parts[0]))
            #expect(AnyCableStreamSigner(secret: AnyCableSecret(Self.streamsSecret)).verify(signed) == stream)
            #expect(AnyCableStreamSigner(secret: AnyCableSecret(Self.jwtSecret)).verify(signed) == nil)

            // The client JWT: HS256 under the JWT secret, ext the caller, short-lived.
            let token = try #require(grant["token"]?.stringValue)
            let t = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            try #require(t.count == 3)
            let header = try #require(Self.json(base64URL: t[0]))
            #expect(header["alg"] == "HS256")
            let signature = HMAC<SHA256>.authenticationCode(for: Data("\(t[0]).\(t[1])".utf8), using: SymmetricKey(data: Data(Self.jwtSecret.utf8)))
            #expect(t[2] == Data(signature).base64URL)
            let claims = try #require(Self.json(base64URL: t[1]))
            let ext = try #require(claims["ext"]?.stringValue, "ext must be a JSON-encoded string, as AnyCable reads it")
            #expect(try JSONValue(parsing: ext) == ["user": .string(sub)])
            let iat = try #require(claims["iat"]?.doubleValue), exp = try #require(claims["exp"]?.doubleValue)
            #expect(Int64(iat) >= before && Int64(iat) <= after, "iat \(iat) outside \(before)…\(after)")
            #expect(Int64(exp) - Int64(iat) == Self.ttlSeconds)
            #expect(Int64(exp) > after && Int64(exp) <= after + Self.ttlSeconds)
            // The library's own verifier (AnyCable's rules) agrees, with the JWT secret only.
            let verified = try await AnyCableJWTIssuer(secret: AnyCableSecret(Self.jwtSecret)).verify(token)
            #expect(verified == ["user": .string(sub)])
            await #expect(throws: AnyCableJWTIssuer.Failure.self) {
                try await AnyCableJWTIssuer(secret: AnyCableSecret(Self.streamsSecret)).verify(token)
            }
            // Past its lifetime, AnyCable refuses it.
            await #expect(throws: AnyCableJWTIssuer.Failure.expired) {
                try await AnyCableJWTIssuer(secret: AnyCableSecret(Self.jwtSecret))
                    .verify(token, now: Date(timeIntervalSince1970: Double(after + Self.ttlSeconds + 1)))
            }
            // No secret is in the response.
            #expect(!r.body.text.contains(Self.streamsSecret) && !r.body.text.contains(Self.jwtSecret))
        }
    }

    @Test func onlyWhatIsConfiguredIsGranted() async throws {
        let cases: [(AnyCableConfiguration?, Set<String>?)] = [
            (Self.configuration(jwt: false, publicURL: nil), ["signed_stream"]),
            (Self.configuration(streams: false), ["token", "url"]),
            (Self.configuration(streams: false, jwt: false), nil),   // broadcasting only: nothing to hand out
            (nil, nil),                                              // the hub: no AnyCable at all
        ]
        for (configuration, expected) in cases {
            let h = try await ServerHarness.make(anycable: configuration); defer { h.cleanup() }
            let auth = try await h.auth()
            let r = try await h.live { c in try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design)) }
            #expect(r.status == .accepted)
            if let expected {
                guard case .object(let fields)? = r.body.json?["anycable"] else { Issue.record("no anycable in \(r.body.text)"); continue }
                #expect(Set(fields.keys) == expected)
            } else {
                #expect(r.body.json?["anycable"] == nil, "\(r.body.text)")
            }
        }
    }

    /// The live responses above are checked against the document's `Accepted` schema; that
    /// check is only worth something if the schema refuses a grant that is not as documented.
    @Test func theDocumentedSchemaRefusesAGrantThatIsNotAsDocumented() throws {
        let schema: JSONValue = ["$ref": "#/components/schemas/Accepted"]
        let urls: JSONValue = ["self": "/api/jobs/j", "events": "/api/jobs/j/events", "stream": "/api/jobs/j/stream"]
        let good: JSONValue = ["id": "j", "stream": "job:j", "urls": urls,
                               "anycable": ["signed_stream": "ImpvYjpqIg==--00", "token": "a.b.c", "url": "wss://x"]]
        try OpenAPIChecker.shared.validate(good, schema, at: "good")
        let bad: [JSONValue] = [
            ["id": "j", "stream": "job:j", "urls": urls, "anycable": ["signedStream": "ImpvYjpqIg==--00"]],
            ["id": "j", "stream": "job:j", "urls": urls, "anycable": ["token": 42]],
            ["id": "j", "stream": "job:j", "urls": urls, "anycable": "ImpvYjpqIg==--00"],
            ["id": "j", "stream": "job:j", "urls": urls, "signed_stream": "ImpvYjpqIg==--00"],
        ]
        for value in bad {
            #expect(throws: OpenAPIChecker.Mismatch.self, "\(value.canonicalText)") { try OpenAPIChecker.shared.validate(value, schema, at: "bad") }
        }
    }

    static func hexHMAC(key: String, _ message: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Unpadded base64url JSON (a JWT part).
    static func json(base64URL s: String) -> JSONValue? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        guard let d = Data(base64Encoded: t) else { return nil }
        return try? JSONValue(parsing: String(decoding: d, as: UTF8.self))
    }
}
