import Foundation
import JobLedgerServer
import Testing

/// With both `JOBLEDGER_AUTH_HS256_SECRET` and `JOBLEDGER_AUTH_JWKS` set, `serve` took both
/// without a word: HS256 tokens of the secret and the issuer's tokens alike. A secret left over
/// from a try-out beside Clerk's keys let whoever held it sign in as anyone, admins included.
/// Refused now, naming both variables and neither value.
@Suite struct OneAuthSourceTests {
    @Test func aSecretAndAJWKSTogetherAreRefused() throws {
        let secret = ServerHarness.secret, url = "https://clerk.example.com/.well-known/jwks.json?token=url-secret"
        do {
            _ = try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": secret, "JOBLEDGER_AUTH_JWKS": url])
            Issue.record("both were taken")
        } catch {
            #expect(error == .secretAndJWKS)
            let text = error.description
            #expect(text.contains("JOBLEDGER_AUTH_HS256_SECRET") && text.contains("JOBLEDGER_AUTH_JWKS"), "\(text)")
            #expect(!text.contains(secret) && !text.contains("url-secret") && !text.contains("clerk.example.com"), "\(text)")
        }
        // Either alone, or the other empty (unset), is taken.
        #expect(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": secret, "JOBLEDGER_AUTH_JWKS": " "])?.jwks == nil)
        #expect(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": "", "JOBLEDGER_AUTH_JWKS": url])?.hs256Secret == nil)
    }

    /// A secret read from a file into the environment ends with a newline: kept, it made every
    /// token's signature fail. Read without white space or line breaks at its ends, as the
    /// other variables are (the issuer and audience too).
    @Test func aSecretsTrailingNewlineIsNotPartOfIt() throws {
        let secret = ServerHarness.secret
        let read = try #require(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": secret + "\n",
                                                                  "JOBLEDGER_AUTH_ISSUER": "https://issuer.example\r\n",
                                                                  "JOBLEDGER_AUTH_AUDIENCE": "app-a,\napp-b\n"]))
        #expect(read.hs256Secret == secret)
        #expect(read.issuer == "https://issuer.example")
        #expect(read.audiences == ["app-a", "app-b"])
    }
}
