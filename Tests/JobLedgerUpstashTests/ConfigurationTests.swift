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
}
