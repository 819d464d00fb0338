import Foundation
import JobLedgerTestSupport
import Testing

/// Authentication `serve` cannot run with is refused at startup, exit 2 and one line naming the
/// variables (never their values), before the log is created.
@Suite struct ServeAuthRefusalTests {
    /// Both a secret and a JWKS: they were both taken, silently.
    @Test func aSecretBesideAJWKSIsRefused() async throws {
        let scratch = Scratch()
        let secret = String(repeating: "k", count: 40)
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0"], in: scratch,
                                    environment: ["JOBLEDGER_AUTH_HS256_SECRET": secret, "JOBLEDGER_AUTH_JWKS": "/nonexistent/jwks.json"])
        expectRefusal(r, exit: 2, mentions: ["JOBLEDGER_AUTH_HS256_SECRET and JOBLEDGER_AUTH_JWKS are both set", "unset"])
        #expect(!r.stderr.contains(secret) && !r.stderr.contains("/nonexistent"), "a value was printed: \(r)")
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(r)")
    }

    /// An admin claim or value of white space only (an empty one is unset: `role`, `admin`):
    /// spaces or a tab were trimmed to nothing and read as unset, the default used silently.
    @Test(arguments: ["\n", "   ", " \t"])
    func aBlankAdminValueIsRefused(blank: String) async throws {
        let scratch = Scratch()
        for (variable, says) in [("JOBLEDGER_AUTH_ADMIN_VALUE", "must not be empty"), ("JOBLEDGER_AUTH_ADMIN_CLAIM", "must name a claim")] {
            let r = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0"], in: scratch,
                                        environment: ["JOBLEDGER_AUTH_HS256_SECRET": String(repeating: "k", count: 40), "JOBLEDGER_AUTH_JWKS": "",
                                                      variable: blank])
            expectRefusal(r, exit: 2, mentions: [variable, says])
            #expect(!scratch.exists("s.sqlite"), "the log was created: \(r)")
        }
    }
}
