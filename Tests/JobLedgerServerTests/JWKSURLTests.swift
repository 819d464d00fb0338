import _CryptoExtras
import Foundation
import JobLedgerTestSupport
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JWTKit
import Logging
import Synchronization
import Testing

/// `JOBLEDGER_AUTH_JWKS` as a URL, the way Clerk publishes its keys: the set is fetched over real
/// loopback HTTP from a small server the test runs, RS256 and ES256 tokens of its keys pass, a
/// `kid` it does not hold is a 401, an unknown `kid` refetches the set at most once a minute (key
/// rotation), and a URL that cannot give a usable set stops `serve` at startup with exit 2.
@Suite struct JWKSURLTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#
    static let issuer = "https://clerk.example.com"

    /// The status of a design submit with `token`.
    @Sendable static func submit(_ c: any TestClientProtocol, _ token: String) async throws -> HTTPResponse.Status {
        try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(token)"], body: body(Self.design)).status
    }

    @Test func rs256AndES256TokensOfTheServedKeysPassAndAnUnknownKidIs401() async throws {
        let rsa = try SigningKeys.rsa(), ec = ES256PrivateKey(), stranger = try SigningKeys.rsa()
        let jwks = JWKSServer()
        try jwks.serve(try SigningKeys.jwks(rsa: ["rsa1": rsa], ec: ["ec1": ec]))
        try await jwks.run { base in
            let h = try await ServerHarness.make(auth: AuthConfiguration(jwks: "\(base)/.well-known/jwks.json", issuer: Self.issuer))
            defer { h.cleanup() }
            #expect(jwks.fetches == 1)
            let keys = JWTKeyCollection()
            await keys.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa1")
            await keys.add(ecdsa: ec, kid: "ec1")
            await keys.add(rsa: stranger, digestAlgorithm: .sha256, kid: "rsa-unknown")
            let now = h.clock.now / 1000
            try await h.live { c async throws in
                for (kid, sub) in [("rsa1", "user_rsa"), ("ec1", "user_ec")] {
                    let t = try await keys.sign(TestClaims(sub: sub, exp: now + 60, iss: Self.issuer), kid: JWKIdentifier(string: kid))
                    let r = try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(t)"], body: body(Self.design))
                    #expect(r.status == .accepted, "\(kid): \(r.body.text)")
                    let id = try JobID(try #require(r.body.json?["id"]?.stringValue))
                    let owner = try await h.ledger.state(of: id)?.owner
                    #expect(owner == sub)
                }
                // A key the set does not hold, under its own kid or under a kid the set has.
                for kid in ["rsa-unknown", "rsa1"] {
                    let signer = JWTKeyCollection()
                    await signer.add(rsa: stranger, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
                    let t = try await signer.sign(TestClaims(sub: "user_mallory", exp: now + 60, iss: Self.issuer), kid: JWKIdentifier(string: kid))
                    let r = try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(t)"], body: body(Self.design))
                    #expect(r.status == .unauthorized, "\(kid)")
                    // An unknown kid is said as such (it said "the signature does not verify").
                    let detail = kid == "rsa1" ? "the signature does not verify" : "no key of the JWKS has the token's kid"
                    #expect(r.body.json?["detail"]?.stringValue?.contains(detail) == true, "\(r.body.text)")
                    #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                    #expect(!r.body.text.contains(t))
                }
            }
            #expect(try h.ledger.eventCount() == 2)
            // An unknown kid within a minute of the last fetch does not fetch again.
            #expect(jwks.fetches == 1)
        }
    }

    @Test func anUnknownKidRefetchesTheSetAtMostOncePerMinute() async throws {
        let old = try SigningKeys.rsa(), new = try SigningKeys.rsa(), stranger = try SigningKeys.rsa()
        let jwks = JWKSServer()
        try jwks.serve(try SigningKeys.jwks(rsa: ["2026-01": old]))
        try await jwks.run { base in
            let h = try await ServerHarness.make(auth: AuthConfiguration(jwks: "\(base)/.well-known/jwks.json"))
            defer { h.cleanup() }
            let keys = JWTKeyCollection()
            await keys.add(rsa: old, digestAlgorithm: .sha256, kid: "2026-01")
            await keys.add(rsa: new, digestAlgorithm: .sha256, kid: "2026-02")
            await keys.add(rsa: stranger, digestAlgorithm: .sha256, kid: "2026-99")
            @Sendable func submit(_ c: any TestClientProtocol, kid: String) async throws -> HTTPResponse.Status {
                let t = try await keys.sign(TestClaims(sub: "user_alice", exp: h.clock.now / 1000 + 60), kid: JWKIdentifier(string: kid))
                return try await Self.submit(c, t)
            }
            try await h.live { c async throws in
                #expect(try await submit(c, kid: "2026-01") == .accepted)
                // The issuer rotates: the set now holds only the new key.
                try jwks.serve(try SigningKeys.jwks(rsa: ["2026-02": new]))
                h.clock.advance(ms: 59_000)
                #expect(try await submit(c, kid: "2026-02") == .unauthorized)  // fetched less than a minute ago
                #expect(jwks.fetches == 1)
                h.clock.advance(ms: 1_000)
                #expect(try await submit(c, kid: "2026-02") == .accepted)      // a minute on: fetched again
                #expect(jwks.fetches == 2)
                // The retired key is gone with the old set, and asking for it again does not fetch.
                #expect(try await submit(c, kid: "2026-01") == .unauthorized)
                #expect(try await submit(c, kid: "2026-99") == .unauthorized)
                #expect(jwks.fetches == 2)
                // A refetch that fails keeps the keys the server had.
                jwks.failing(true)
                h.clock.advance(ms: 60_000)
                #expect(try await submit(c, kid: "2026-99") == .unauthorized)
                #expect(jwks.fetches == 3)
                #expect(try await submit(c, kid: "2026-02") == .accepted)
            }
            #expect(try h.ledger.eventCount() == 3)
        }
    }

    /// A key the issuer takes out of its set (revoked) stops verifying once the set is ten
    /// minutes old, even for a token already verified (the signature cache is emptied), without
    /// any new `kid` to prompt a fetch. A refresh that fails keeps the keys, tried again a minute on.
    @Test func theSetIsFetchedAgainWhenTenMinutesOldSoARevokedKeyStopsVerifying() async throws {
        let old = try SigningKeys.rsa(), new = try SigningKeys.rsa()
        let jwks = JWKSServer()
        try jwks.serve(try SigningKeys.jwks(rsa: ["k-old": old, "k-new": new]))
        try await jwks.run { base in
            let h = try await ServerHarness.make(auth: AuthConfiguration(jwks: "\(base)/.well-known/jwks.json"))
            defer { h.cleanup() }
            let keys = JWTKeyCollection()
            await keys.add(rsa: old, digestAlgorithm: .sha256, kid: "k-old")
            await keys.add(rsa: new, digestAlgorithm: .sha256, kid: "k-new")
            let exp = h.clock.now / 1000 + 7200
            let oldToken = try await keys.sign(TestClaims(sub: "user_alice", exp: exp), kid: JWKIdentifier(string: "k-old"))
            let newToken = try await keys.sign(TestClaims(sub: "user_alice", exp: exp), kid: JWKIdentifier(string: "k-new"))
            try await h.live { c async throws in
                #expect(try await Self.submit(c, oldToken) == .accepted)
                try jwks.serve(try SigningKeys.jwks(rsa: ["k-new": new]))   // the old key is revoked
                h.clock.advance(ms: 10 * 60_000 - 1)
                #expect(try await Self.submit(c, oldToken) == .accepted)          // the set held is not ten minutes old
                #expect(jwks.fetches == 1)
                h.clock.advance(ms: 1)
                #expect(try await Self.submit(c, oldToken) == .unauthorized)      // fetched again: the key is gone
                #expect(jwks.fetches == 2)
                #expect(try await Self.submit(c, newToken) == .accepted)
                jwks.failing(true)
                h.clock.advance(ms: 10 * 60_000)
                #expect(try await Self.submit(c, newToken) == .accepted)          // the refresh failed: the keys are kept
                #expect(jwks.fetches == 3)
                h.clock.advance(ms: 59_000)
                #expect(try await Self.submit(c, newToken) == .accepted)
                #expect(jwks.fetches == 3)                                    // at most one try a minute
                jwks.failing(false)
                h.clock.advance(ms: 1_000)
                #expect(try await Self.submit(c, newToken) == .accepted)
                #expect(jwks.fetches == 4)
            }
        }
    }

    @Test func aJWKSURLThatGivesNoUsableSetIsAConfigurationErrorAtStartup() async throws {
        let jwks = JWKSServer()
        try jwks.serve(try SigningKeys.jwks(rsa: ["rsa1": try SigningKeys.rsa()]))
        let closed = try closedLoopbackPort()
        try await jwks.run { base in
            let cases: [(url: String, reason: String)] = [
                ("http://127.0.0.1:\(closed)/.well-known/jwks.json?token=url-secret", "cannot read the JWKS (cannot connect to the URL's host)"),
                ("/nonexistent/jwks.json", "cannot read the JWKS (no such file)"),
                ("ftp://127.0.0.1/jwks.json", "only an https:// (or http://) URL or a file path is read"),
                ("file:///etc/jwks.json", "not a URL of another scheme"),
                ("HTTP://127.0.0.1:\(closed)/.well-known/jwks.json", "cannot read the JWKS (cannot connect to the URL's host)"),
                ("\(base)/missing?token=url-secret", "did not answer 200"),
                ("\(base)/garbage", "not a usable JWKS document"),
                ("\(base)/empty", "the JWKS has no keys"),
            ]
            for (url, reason) in cases { try await Self.expectRefused(url, because: reason) }
            jwks.failing(true)
            try await Self.expectRefused("\(base)/.well-known/jwks.json", because: "did not answer 200")
        }
    }

    /// `serve` reads the variable and loads the set before it touches the log: an unreachable
    /// URL is exit 2 naming the variable (not a crash, not a stack trace), and no log is made.
    @Test func serveExitsWith2NamingTheVariableWhenTheJWKSURLIsUnreachable() async throws {
        let binary = try #require(SigningKeys.jobledgerBinary, "the jobledger executable is not beside the test bundle; run swift build --build-tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("log.sqlite").path
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("JOBLEDGER_") && !$0.key.hasPrefix("UPSTASH_") && !$0.key.hasPrefix("KV_") }
        env["JOBLEDGER_AUTH_JWKS"] = "http://127.0.0.1:\(try closedLoopbackPort())/.well-known/jwks.json?token=url-secret"
        let r = try await offPool { [env] in
            Result { () throws -> (Process.TerminationReason, Int32, String) in
                let p = Process()
                p.executableURL = binary
                p.arguments = ["serve", "--db", db, "--host", "127.0.0.1", "--port", "0", "--workers", "0"]
                p.environment = env
                let err = childPipe()
                p.standardError = err
                p.standardOutput = FileHandle.nullDevice
                try startChild(p)
                // A safety net, not a synchronisation: a server that did start would never exit.
                let timer = DispatchWorkItem { if p.isRunning { p.terminate() } }
                DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: timer)
                let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                waitForChildExit(p, within: .seconds(600))
                timer.cancel()
                return (p.terminationReason, p.terminationStatus, text)
            }
        }.get()
        #expect(r.0 == .exit && r.1 == 2, "\(r.2)")
        #expect(r.2.contains("JOBLEDGER_AUTH_JWKS"), "\(r.2)")
        #expect(!r.2.contains("url-secret") && !r.2.contains("Fatal error"), "\(r.2)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    /// `serve`'s startup with `JOBLEDGER_AUTH_JWKS=url`: a configuration error naming the
    /// variable and why, never the URL (it may carry a credential).
    static func expectRefused(_ url: String, because reason: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let configuration = try #require(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_JWKS": url]))
        do {
            _ = try await TokenVerifier(configuration: configuration)
            Issue.record("\(url): the verifier started", sourceLocation: sourceLocation)
        } catch {
            guard case .invalid(let variable, let why) = error else {
                Issue.record("\(url): \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(variable == "JOBLEDGER_AUTH_JWKS", sourceLocation: sourceLocation)
            #expect(why.contains(reason), "\(url): \(why)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("url-secret") && !error.description.contains("127.0.0.1"), "\(error)",
                    sourceLocation: sourceLocation)
        }
    }
}

/// Keys for signing and the JWKS documents that publish them.
enum SigningKeys {
    static func rsa() throws -> JWTKit.Insecure.RSA.PrivateKey {
        try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
    }

    /// A JWKS (JSON) with the public halves of `rsa` (RS256) and `ec` (ES256), by kid.
    static func jwks(rsa: [String: JWTKit.Insecure.RSA.PrivateKey] = [:], ec: [String: ES256PrivateKey] = [:]) throws -> String {
        var keys: [JWK] = []
        for (kid, key) in rsa.sorted(by: { $0.key < $1.key }) {
            let (n, e) = try key.publicKey.getKeyPrimitives()
            keys.append(.rsa(.rs256, identifier: JWKIdentifier(string: kid), modulus: n.base64URL, exponent: e.base64URL))
        }
        for (kid, key) in ec.sorted(by: { $0.key < $1.key }) {
            keys.append(.ecdsa(.es256, identifier: JWKIdentifier(string: kid), x: key.parameters!.x, y: key.parameters!.y, curve: .p256))
        }
        return String(decoding: try JSONEncoder().encode(JWKS(keys: keys)), as: UTF8.self)
    }

    /// The `jobledger` executable `swift build` put beside the test bundle.
    static let jobledgerBinary: URL? = {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On macOS the bundle's executable is inside …/JobLedgerPackageTests.xctest/Contents/MacOS.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("jobledger")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()
}

/// A JWKS document served over loopback HTTP by Hummingbird, replaceable while it runs, with a
/// count of its fetches. `/garbage` and `/empty` serve unusable documents; `/redirect/<status>?to=<url>`
/// answers that redirect to `url`.
final class JWKSServer: Sendable {
    private let document = Mutex("")
    private let fails = Mutex(false)
    private let count = Mutex(0)

    /// How many times the set was fetched.
    var fetches: Int { count.withLock { $0 } }
    /// Serves `json` from now on.
    func serve(_ json: String) throws { document.withLock { $0 = json } }
    /// Answers 500 instead of the set (or the set again).
    func failing(_ on: Bool) { fails.withLock { $0 = on } }

    /// Runs `body` while the server listens on a loopback port; `body` gets its base URL.
    func run<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get(".well-known/jwks.json") { _, _ -> Response in
            self.count.withLock { $0 += 1 }
            if self.fails.withLock({ $0 }) { return Response(status: .internalServerError) }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: self.document.withLock { $0 })))
        }
        router.get("garbage") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"keys\": [oops")) ) }
        router.get("redirect/:status") { request, context -> Response in
            let status = HTTPResponse.Status(code: Int(context.parameters.get("status") ?? "") ?? 302)
            return Response(status: status, headers: [.location: request.uri.queryParameters.get("to") ?? "/"])
        }
        router.get("empty") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"keys":[]}"#))) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              logger: Logger(label: "jwks", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body("http://127.0.0.1:\(port)")
        }
    }
}
