import Crypto
import Foundation
import JobLedger
import JobLedgerServer
import JWTKit
import Testing

/// A token whose signature verified is not verified again on its next request, but its claims
/// are: it expires on time, and a token that differs from it by a byte is checked in full.
@Suite struct VerifiedTokenCacheTests {
    @Test func aRememberedTokenStillExpiresAndAnAlteredOneIsVerifiedAfresh() async throws {
        let clock = TestClock()
        let verifier = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: ServerHarness.secret), now: clock.closure)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: ServerHarness.secret), digestAlgorithm: .sha256)
        let token = try await signer.sign(TestClaims(sub: "user_alice", exp: clock.now / 1000 + 60))
        for _ in 0..<3 { #expect(try await verifier.verify(token).subject == "user_alice") }
        // The same token with a character of its signature changed (not the last, whose low
        // bits are padding): refused, although the original is remembered.
        var chars = Array(token)
        let i = chars.count - 10
        chars[i] = chars[i] == "A" ? "B" : "A"
        let forged = String(chars)
        await #expect(throws: AuthFailure.signature) { try await verifier.verify(forged) }
        // Past its expiry (and the 5 s leeway), the remembered token is refused like any other.
        clock.advance(ms: 66_000)
        await #expect(throws: AuthFailure.expired) { try await verifier.verify(token) }
    }

    /// A claim the server does not read may hold a number past 64 bits (another system's id):
    /// the token is not refused for it (the strict number rule is for input that is stored).
    /// Made by hand: the claims' JSON text is what is under test.
    @Test func aHugeNumberInAnUnreadClaimIsNoReasonToRefuseAToken() async throws {
        let clock = TestClock()
        let verifier = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: ServerHarness.secret), now: clock.closure)
        func b64url(_ d: Data) -> String {
            d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let header = b64url(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let claims = b64url(Data(#"{"sub":"user_alice","exp":\#(clock.now / 1000 + 60),"big":123456789012345678901234567890}"#.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(claims)".utf8), using: SymmetricKey(data: Data(ServerHarness.secret.utf8)))
        let token = "\(header).\(claims).\(b64url(Data(mac)))"
        #expect(try await verifier.verify(token).subject == "user_alice")
    }
}
