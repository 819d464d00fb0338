import _CryptoExtras
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import JWTKit
import Testing

/// Every way a token can be wrong is a 401 that says why, through the live server; nothing is
/// queued; no token or secret appears in a response.
@Suite struct AuthMatrixTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#

    /// POSTs a design with `headers` and checks the 401 (documented shape, reason, no echo).
    func refused(_ h: ServerHarness, _ headers: HTTPFields, because reason: String, token: String? = nil) async throws {
        let before = try h.ledger.eventCount()
        let r = try await h.live { c in try await c.api(.post, "/api/design", "/api/design", headers: headers, body: body(Self.design)) }
        #expect(r.status == .unauthorized)
        #expect(r.body.json?["detail"]?.stringValue?.contains(reason) == true, "\(r.body.text)")
        #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
        if let token { #expect(!r.body.text.contains(token)) }
        #expect(!r.body.text.contains(ServerHarness.secret))
        #expect(try h.ledger.eventCount() == before)
    }

    @Test func missingToken() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await refused(h, [:], because: "no bearer token")
    }

    @Test func expiredAndNotYetValidAreRefusedBeyondTheLeeway() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let expired = try await h.token(expIn: -6)   // leeway is 5 s
        try await refused(h, [.authorization: "Bearer \(expired)"], because: "expired", token: expired)
        let early = try await h.token(nbfIn: 6)
        try await refused(h, [.authorization: "Bearer \(early)"], because: "not valid yet", token: early)
        // Within the leeway both pass.
        let justExpired = try await h.token(expIn: -4), almost = try await h.token(nbfIn: 4)
        for t in [justExpired, almost] {
            let r = try await h.live { c in try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(t)"], body: body(Self.design)) }
            #expect(r.status == .accepted)
        }
    }

    @Test func badSignatureAndAlgNone() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let other = JWTKeyCollection()
        await other.add(hmac: HMACKey(from: "another-secret-0123456789abcdef0123456789"), digestAlgorithm: .sha256)
        let forged = try await other.sign(TestClaims(sub: "user_alice", exp: h.clock.now / 1000 + 60))
        try await refused(h, [.authorization: "Bearer \(forged)"], because: "signature", token: forged)
        // alg none: a valid-looking token with no signature.
        let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URL
        let payload = Data(#"{"sub":"user_alice","exp":\#(h.clock.now / 1000 + 60)}"#.utf8).base64URL
        try await refused(h, [.authorization: "Bearer \(header).\(payload)."], because: "alg none")
        try await refused(h, [.authorization: "Bearer not-a-jwt"], because: "malformed")
        try await refused(h, [.authorization: "Basic dXNlcjpwYXNz"], because: "no bearer token")
    }

    @Test func jwksKeysVerifyAndAlgorithmConfusionIsRefused() async throws {
        let rsa = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let ec = ES256PrivateKey()
        let (n, e) = try rsa.publicKey.getKeyPrimitives()
        let jwks = JWKS(keys: [
            .rsa(.rs256, identifier: "rsa1", modulus: n.base64URL, exponent: e.base64URL),
            .ecdsa(.es256, identifier: "ec1", x: ec.parameters!.x, y: ec.parameters!.y, curve: .p256),
        ])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json")
        try JSONEncoder().encode(jwks).write(to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let h = try await ServerHarness.make(auth: AuthConfiguration(jwks: dir.path, issuer: "https://clerk.example.com", audiences: ["jobledger"]))
        defer { h.cleanup() }
        let now = h.clock.now / 1000
        let good = TestClaims(sub: "user_rsa", exp: now + 60, iss: "https://clerk.example.com", aud: "jobledger")
        let keys = JWTKeyCollection()
        await keys.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa1")
        await keys.add(ecdsa: ec, kid: "ec1")
        for kid in ["rsa1", "ec1"] {
            let t = try await keys.sign(good, kid: JWKIdentifier(string: kid))
            let r = try await h.live { c in try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(t)"], body: body(Self.design)) }
            #expect(r.status == .accepted, "\(kid): \(r.body.text)")
        }
        // HS256 "signed" with the RSA public key as the HMAC secret: the classic confusion.
        let confused = JWTKeyCollection()
        await confused.add(hmac: HMACKey(from: rsa.publicKey.pemRepresentation), digestAlgorithm: .sha256, kid: "rsa1")
        let c1 = try await confused.sign(good, kid: "rsa1")
        try await refused(h, [.authorization: "Bearer \(c1)"], because: "HS256 is not accepted", token: c1)
        // Wrong issuer, wrong audience.
        var wrongIss = good; wrongIss.iss = "https://evil.example.com"
        let t1 = try await keys.sign(wrongIss, kid: "rsa1")
        try await refused(h, [.authorization: "Bearer \(t1)"], because: "issuer", token: t1)
        var wrongAud = good; wrongAud.aud = "someone-else"
        let t2 = try await keys.sign(wrongAud, kid: "rsa1")
        try await refused(h, [.authorization: "Bearer \(t2)"], because: "audience", token: t2)
        var noSub = good; noSub.sub = nil
        let t3 = try await keys.sign(noSub, kid: "ec1")
        try await refused(h, [.authorization: "Bearer \(t3)"], because: "sub", token: t3)
    }

    @Test func anotherUsersJobIsNotFoundAndAdminsSeeAll() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob"), admin = try await h.auth("user_root", role: "admin")
        try await h.live { c async throws in
            let r = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(Self.design))
            let id = r.body.json!["id"]!.stringValue!
            #expect(try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: alice).status == .ok)
            #expect(try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: bob).status == .notFound)
            #expect(try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: bob).status == .notFound)
            #expect(try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: bob).status == .notFound)
            #expect(try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: admin).status == .ok)
            let bobs = try await c.api(.get, "/api/jobs", "/api/jobs", headers: bob)
            #expect(bobs.body.json?["jobs"] == .array([]))
            // Admin actions need the role.
            #expect(try await c.api(.post, "/api/jobs/\(id)/cancel", "/api/jobs/{id}/cancel", headers: alice).status == .forbidden)
            #expect(try await c.api(.get, "/api/projections", "/api/projections", headers: alice).status == .forbidden)
            let canceled = try await c.api(.post, "/api/jobs/\(id)/cancel", "/api/jobs/{id}/cancel", headers: admin)
            #expect(canceled.body.json?["state"] == "canceled")
            // Again: still canceled, no second event.
            let again = try await c.api(.post, "/api/jobs/\(id)/cancel", "/api/jobs/{id}/cancel", headers: admin)
            #expect(again.status == .ok && again.body.json?["version"] == canceled.body.json?["version"])
        }
    }

    @Test func cancellingAJobThatFinishedOtherwiseIsAConflictAndChangesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        var jobs: [(JobID, EventPayload, JobStatus)] = []
        for (outcome, status) in [(EventPayload.completed(.init(attempt: 1)), JobStatus.completed),
                                  (.failed(.init(code: "boom", message: "no", retryable: false, attempt: 1)), .failed)] {
            let job = JobID.generate()
            _ = try await h.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", input: ["prompt": "x"]))))
            _ = try await h.ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 4_000_000_000_000)))))
            _ = try await h.ledger.append(NewEvent(job: job, payload: outcome))
            jobs.append((job, outcome, status))
        }
        let finished = jobs
        try await h.live { c async throws in
            for (job, _, _) in finished {
                let r = try await c.api(.post, "/api/jobs/\(job)/cancel", "/api/jobs/{id}/cancel", headers: admin)
                #expect(r.status == .conflict)
                #expect(r.body.json?["type"]?.stringValue?.hasSuffix("already-finished") == true)
            }
        }
        for (job, _, status) in jobs {
            #expect(try await h.ledger.state(of: job)?.status == status)
            #expect(try await h.ledger.state(of: job)?.version == 3)
        }
    }

    @Test func theSessionCookieAndTheAccessTokenParameterAuthenticate() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let t = try await h.token()
        try await h.live { c async throws in
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: [.cookie: "theme=dark; __session=\(t)"]).status == .ok)
            // access_token is for the stream only (EventSource sends no headers).
            #expect(try await c.api(.get, "/api/jobs?access_token=\(t)", "/api/jobs").status == .unauthorized)
        }
    }

    @Test func configurationRefusesWeakSecretsWithoutEchoingThem() throws {
        let weak = "short-secret"
        #expect(throws: ServerConfigurationError.self) { try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": weak]) }
        do { _ = try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": weak]) } catch {
            #expect(!"\(error)".contains(weak))
            #expect("\(error)".contains("JOBLEDGER_AUTH_HS256_SECRET"))
        }
        #expect(try AuthConfiguration(environment: [:]) == nil)
        let c = try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": ServerHarness.secret, "JOBLEDGER_AUTH_AUDIENCE": "a, b",
                                                    "JOBLEDGER_AUTH_ADMIN_CLAIM": "org_role", "JOBLEDGER_AUTH_ADMIN_VALUE": "org:admin"])
        #expect(c?.audiences == ["a", "b"])
        #expect(c?.adminClaim == "org_role")
        #expect(throws: ServerConfigurationError.self) {
            try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": ServerHarness.secret, "JOBLEDGER_AUTH_LEEWAY_SECONDS": "9999"])
        }
    }
}

extension Data {
    /// Unpadded base64url.
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
