import Foundation
import JobLedgerUpstash
import Testing

struct ConfigurationTests {
    @Test func readsTheWebAppsVariablesWithTheVercelKVFallback() throws {
        let c = try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "https://eu1-cat.upstash.io/", "UPSTASH_REDIS_REST_TOKEN": "AX1secret"])
        #expect(c.url.absoluteString == "https://eu1-cat.upstash.io")
        #expect(c.token.reveal() == "AX1secret")
        #expect(c.stream == "design:jobs")
        let kv = try UpstashConfiguration(environment: ["KV_REST_API_URL": "https://kv.upstash.io", "KV_REST_API_TOKEN": "AXkv"])
        #expect(kv.source == "KV_REST_API_URL")
        #expect(kv.token.reveal() == "AXkv")
    }

    @Test func aMissingOrMalformedVariableIsNamedAndItsValueNeverShown() {
        #expect(throws: UpstashConfigurationError.self) { try UpstashConfiguration(environment: [:]) }
        do { _ = try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "https://a.upstash.io"]) } catch {
            #expect(error.variable == "UPSTASH_REDIS_REST_TOKEN")
        }
        do { _ = try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "ftp://user:pw-secret@x", "UPSTASH_REDIS_REST_TOKEN": "t"]) } catch {
            #expect(error.variable == "UPSTASH_REDIS_REST_URL")
            #expect(!error.description.contains("pw-secret"))
        }
        do { _ = try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "https://a.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "t", "JOBLEDGER_UPSTASH_TIMEOUT_MS": "0"]) } catch {
            #expect(error.variable == "JOBLEDGER_UPSTASH_TIMEOUT_MS")
        }
        let c = try? UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "https://a.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "tok-7c2e9a"])
        #expect(c != nil)
        #expect(!"\(c!)".contains("tok-7c2e9a") && !String(reflecting: c!).contains("tok-7c2e9a"))
    }

    /// The client adds `/pipeline` and `/multi-exec` to the URL itself: one with a path would send
    /// every request somewhere Upstash does not serve the API.
    @Test func aURLWithAPathIsRefusedNamingTheVariableNotTheValue() throws {
        for (variable, url) in [("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:8079/v2"), ("UPSTASH_REDIS_REST_URL", "https://u:pw-S3CRET@db-x.upstash.io/v2/"),
                                ("KV_REST_API_URL", "https://db-x.upstash.io/pipeline")] {
            let tokenVariable = variable == "KV_REST_API_URL" ? "KV_REST_API_TOKEN" : "UPSTASH_REDIS_REST_TOKEN"
            do {
                _ = try UpstashConfiguration(environment: [variable: url, tokenVariable: "t"])
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.variable == variable)
                #expect(error.description.contains("has a path") && error.description.contains("https://<your-db>.upstash.io"), "\(error)")
                #expect(!error.description.contains("S3CRET") && !error.description.contains("db-x") && !error.description.contains("8079"), "\(error)")
            }
        }
        for url in ["https://db-x.upstash.io", "https://db-x.upstash.io/", "http://127.0.0.1:8079//"] {
            #expect(try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": url, "UPSTASH_REDIS_REST_TOKEN": "t"]).url.path.isEmpty)
        }
    }

    /// A token with a control character or a byte past ASCII was sent raw in the Authorization
    /// header; the other adapters refuse it, and so does this one now, naming the variable only.
    @Test func aTokenWithAControlCharacterOrNonASCIIIsRefused() {
        for token in ["TOK\u{01}SECRET", "TOK\u{7F}SECRET", "TOKéSECRET"] {
            do {
                _ = try UpstashConfiguration(environment: ["UPSTASH_REDIS_REST_URL": "https://a.upstash.io", "UPSTASH_REDIS_REST_TOKEN": token])
                Issue.record("accepted a token with \(token.unicodeScalars.count) characters")
            } catch {
                #expect(error.variable == "UPSTASH_REDIS_REST_TOKEN")
                #expect(!error.description.contains("SECRET"), "\(error)")
            }
        }
    }
}
