import Crypto
import Foundation
@testable import JobLedgerServer
import Testing

/// What `TokenVerifier` makes of tokens correctly signed with the configured secret but shaped
/// in ways a client or issuer should not send: each is refused with a reason that names what is
/// wrong, never the token.
@Suite struct TokenVerifierHeaderTests {
    static let now: Int64 = 1_800_000_000_000

    /// An HS256 token with `header` and `claims`, signed with the harness's secret.
    static func token(header: String, claims: String) -> String {
        let signingInput = Data(header.utf8).base64URL + "." + Data(claims.utf8).base64URL
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(ServerHarness.secret.utf8)))
        return signingInput + "." + Data(mac).base64URL
    }

    static func verifier() async throws -> TokenVerifier {
        try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: ServerHarness.secret), now: { now })
    }

    static let claims = #"{"sub":"user_alice","exp":\#(now / 1000 + 60)}"#

    func refusal(_ token: String) async throws -> AuthFailure? {
        let verifier = try await Self.verifier()
        do throws(AuthFailure) {
            _ = try await verifier.verify(token)
            return nil
        } catch {
            return error
        }
    }

    @Test func aPlainTokenPasses() async throws {
        let p = try await Self.verifier().verify(Self.token(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: Self.claims))
        #expect(p.subject == "user_alice")
    }

    /// RFC 7515 § 4.1.11: a `crit` header names extensions the recipient must understand or
    /// refuse the token. None is understood here; jwt-kit ignores `crit`, so these verified.
    @Test(arguments: [
        #"{"alg":"HS256","crit":["exp-ext"],"exp-ext":1}"#,
        #"{"alg":"HS256","crit":[]}"#,
        #"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
    ])
    func criticalExtensionsAreRefused(header: String) async throws {
        let failure = try await refusal(Self.token(header: header, claims: Self.claims))
        #expect(failure?.description.contains("crit") == true, "\(String(describing: failure))")
    }

    /// An `exp` that is there but not a number was said to be missing.
    @Test func anExpThatIsNotANumberIsSaidSo() async throws {
        let failure = try await refusal(Self.token(header: #"{"alg":"HS256"}"#, claims: #"{"sub":"user_alice","exp":"\#(Self.now / 1000 + 60)"}"#))
        #expect(failure == .malformed("exp is not a number"))
        let missing = try await refusal(Self.token(header: #"{"alg":"HS256"}"#, claims: #"{"sub":"user_alice"}"#))
        #expect(missing == .noExpiry)
    }

    /// A token over the size read was said to be "not three dot-separated parts".
    @Test func anOversizedTokenIsSaidToBeTooLong() async throws {
        let padded = #"{"sub":"user_alice","exp":\#(Self.now / 1000 + 60),"pad":"\#(String(repeating: "x", count: 20_000))"}"#
        let failure = try await refusal(Self.token(header: #"{"alg":"HS256"}"#, claims: padded))
        #expect(failure == .malformed("longer than 16384 bytes"))
    }
}
