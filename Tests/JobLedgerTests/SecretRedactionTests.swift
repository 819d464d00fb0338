import Testing
@testable import JobLedger

/// `redactingSecret`: the whole secret and any long-enough piece of it are hidden; other words stay.
@Suite struct SecretRedactionTests {
    let secret = "Secret0123456789abcdefSECRET"

    @Test func theWholeSecretAndItsPiecesAreHidden() {
        #expect(redactingSecret(secret, in: "bad token \(secret) here") == "bad token <redacted> here")
        // A server that quotes a part of it (a prefix cut short, the middle, the end).
        for part in ["Secret0123", "3456789abcde", "defSECRET", String(secret.prefix(8))] {
            let out = redactingSecret(secret, in: "user \(part) has no permissions")
            #expect(out == "user <redacted> has no permissions", "\(part): \(out)")
        }
        // Two pieces with a word between them stay two.
        #expect(redactingSecret(secret, in: "Secret0123 and 6789abcdef") == "<redacted> and <redacted>")
    }

    @Test func shortRunsAndOtherWordsStay() {
        #expect(redactingSecret(secret, in: "Secret is 0123 abc") == "Secret is 0123 abc")  // runs of 7 or fewer
        #expect(redactingSecret(secret, in: "") == "")
        #expect(redactingSecret("", in: "text") == "text")
        // A secret shorter than a piece is hidden only whole.
        #expect(redactingSecret("s3cr", in: "s3c s3cr s3crx") == "s3c <redacted> <redacted>x")
    }

    @Test func onlyTheFirstCharactersAreLookedAt() {
        let long = String(repeating: "a", count: 10_000) + secret
        #expect(redactingSecret(secret, in: long, limit: 100).count == 100)
        #expect(!redactingSecret(secret, in: long).contains("Secret0123"))
        #expect(!redactingSecret(secret, in: String(repeating: "x", count: 3990) + secret).contains("Secret0"))
    }
}
