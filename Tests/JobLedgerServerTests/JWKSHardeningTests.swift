import _CryptoExtras
import Foundation
import JobLedger
@testable import JobLedgerServer
import JWTKit
import Synchronization
import Testing

/// What an auditor of the JWKS handling found: one key the server cannot use (an `oct` key, a
/// broken RSA key) made the whole set unusable, so a refresh kept the old keys, revoked ones
/// included; keys meant for encryption verified signatures; a `kid` the set does not hold was
/// verified with the set's first key; a JWKS file was never read again; and a token had other
/// spellings that verified (`=` padding, unused bits), a `sub` could hide a zero-width space,
/// and an `alg` of any length was said back whole.
@Suite struct JWKSHardeningTests {
    final class Clock: Sendable {
        let ms = Mutex<Int64>(1_795_000_000_000)
        var closure: @Sendable () -> Int64 { { self.ms.withLock { $0 } } }
        func advance(_ d: Int64) { ms.withLock { $0 += d } }
    }

    /// The public JWKS entries of `keys` (RS256), plus raw `extra` entries.
    static func jwks(_ keys: [String: JWTKit.Insecure.RSA.PrivateKey], extra: [JSONValue] = []) throws -> String {
        let text = try SigningKeys.jwks(rsa: keys)
        guard case .array(let entries)? = try JSONValue(parsing: text, exactNumbers: false)["keys"] else { throw CancellationError() }
        return JSONValue.object(["keys": .array(entries + extra)]).canonicalText
    }

    static func token(_ key: JWTKit.Insecure.RSA.PrivateKey, kid: String, sub: String = "user_alice", now: Int64) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        return try await keys.sign(TestClaims(sub: sub, exp: now / 1000 + 3600), kid: JWKIdentifier(string: kid))
    }

    @Test func keysTheServerCannotUseAreLeftOutAndTheRestVerify() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try SigningKeys.rsa(), enc = try SigningKeys.rsa()
        guard case .array(let encEntries)? = try JSONValue(parsing: try SigningKeys.jwks(rsa: ["enc": enc]), exactNumbers: false)["keys"],
              case .object(var encObject)? = encEntries.first else { throw CancellationError() }
        encObject["use"] = "enc"
        let path = dir.appendingPathComponent("jwks.json").path
        try Self.jwks(["good": good], extra: [.object(["kty": "oct", "k": "c2VjcmV0", "kid": "sym"]),
                                               .object(["kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB", "alg": "RS256"]),
                                               .object(encObject)]).write(toFile: path, atomically: true, encoding: .utf8)
        let clock = Clock()
        let v = try await TokenVerifier(configuration: AuthConfiguration(jwks: path), now: clock.closure)
        let now = clock.ms.withLock { $0 }
        #expect(try await v.verify(try await Self.token(good, kid: "good", now: now)).subject == "user_alice")
        await #expect(throws: AuthFailure.self) { try await v.verify(try await Self.token(enc, kid: "enc", now: now)) }
        // A kid the set does not hold, on a token signed with the set's key: no key is named.
        await #expect(throws: AuthFailure.self) { try await v.verify(try await Self.token(good, kid: "nope", now: now)) }
        await #expect(throws: AuthFailure.self) { try await v.verify(try await Self.token(good, kid: "", now: now)) }
        // A set with no usable key at all is refused at start.
        try Self.jwks([:], extra: [.object(["kty": "oct", "k": "c2VjcmV0", "kid": "sym"])]).write(toFile: path, atomically: true, encoding: .utf8)
        await #expect(throws: ServerConfigurationError.self) { try await TokenVerifier(configuration: AuthConfiguration(jwks: path)) }
    }

    @Test func aJWKSFileIsReadAgainWhenTenMinutesOld() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = try SigningKeys.rsa(), new = try SigningKeys.rsa()
        let path = dir.appendingPathComponent("jwks.json").path
        try Self.jwks(["k-old": old]).write(toFile: path, atomically: true, encoding: .utf8)
        let clock = Clock()
        let v = try await TokenVerifier(configuration: AuthConfiguration(jwks: path), now: clock.closure)
        let now = clock.ms.withLock { $0 }
        let oldToken = try await Self.token(old, kid: "k-old", now: now), newToken = try await Self.token(new, kid: "k-new", now: now)
        #expect(try await v.verify(oldToken).subject == "user_alice")
        try Self.jwks(["k-new": new]).write(toFile: path, atomically: true, encoding: .utf8)
        clock.advance(10 * 60_000)
        await #expect(throws: AuthFailure.self) { try await v.verify(oldToken) }
        #expect(try await v.verify(newToken).subject == "user_alice")
    }

    @Test func aTokenHasOneSpellingAndWhatIsSaidBackIsBounded() async throws {
        let secret = String(repeating: "s", count: 40)
        let clock = Clock()
        let v = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: secret), now: clock.closure)
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let exp = clock.ms.withLock { $0 } / 1000 + 3600
        let token = try await keys.sign(TestClaims(sub: "user_alice", exp: exp))
        #expect(try await v.verify(token).subject == "user_alice")
        // The same signature spelt with padding, or with the last character's unused bits set.
        let padded = token + "="
        let lastIndex = token.index(before: token.endIndex)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = alphabet.firstIndex(of: token[lastIndex])!
        let twisted = String(token[..<lastIndex]) + String(alphabet[last ^ 1])  // a 256-bit HMAC leaves 2 unused bits
        for t in [padded, twisted] {
            await #expect(throws: AuthFailure.self, "\(t.suffix(4))") { try await v.verify(t) }
        }
        // A sub with an invisible character (format, default-ignorable, the Braille blank, white
        // space other than a plain space inside, or white space at an end) is not a subject.
        for sub in ["bob\u{200B}", "\u{200F}admin", "bob\u{FEFF}", "bob\u{115F}", "bob\u{3164}", "bob\u{2800}", "bob\u{034F}",
                    "bob\u{FE0F}", "bob\u{3000}", "bob\u{00A0}", "b\u{00A0}ob", "bob ", " bob", "bob\u{2003}x"] {
            let t = try await keys.sign(TestClaims(sub: sub, exp: exp))
            await #expect(throws: AuthFailure.subject, "\(sub.unicodeScalars.map(\.value))") { try await v.verify(t) }
        }
        // Names as issuers write them pass: a plain space inside, any script, emoji.
        for sub in ["user_2abcDEF", "auth0|123", "bob smith", "José", "山田", "ユーザー", "🚀dev", "ok\u{0301}"] {
            let t = try await keys.sign(TestClaims(sub: sub, exp: exp))
            #expect(try await v.verify(t).subject == sub, "\(sub.unicodeScalars.map(\.value))")
        }
        // An alg said back is short and printable.
        let header = Data(#"{"alg":"\#(String(repeating: "A", count: 12_000))\r\n","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let parts = token.split(separator: ".")
        do { _ = try await v.verify("\(header).\(parts[1]).\(parts[2])"); Issue.record("an unknown alg verified") } catch {
            #expect("\(error)".count < 200 && !"\(error)".contains("\r"), "\("\(error)".prefix(300))")
        }
    }
}
