import Foundation
import JobLedgerTestSupport
import Testing

/// At `trace`, what every part logs reaches stderr: the secrets in the environment (the HS256
/// secret, the Upstash, AnyCable and Vercel Blob tokens) and the callers' bearer tokens must
/// not be among it, while every adapter is configured and failing (and so saying why).
@Suite struct SecretsAtTraceTests {
    static let secrets = [
        "JOBLEDGER_AUTH_HS256_SECRET": "hs256-MARK1-0123456789abcdef0123456789abcdef",
        "UPSTASH_REDIS_REST_TOKEN": "upstash-MARK2-token",
        "ANYCABLE_SECRET": "anycable-MARK3-secret",
        "ANYCABLE_BROADCAST_KEY": "anycable-MARK4-key",
        "ANYCABLE_JWT_SECRET": "anycable-MARK5-jwt",
        "ANYCABLE_STREAMS_SECRET": "anycable-MARK6-streams",
        "BLOB_READ_WRITE_TOKEN": "vercel_blob_rw_store123_vercel-MARK7-token",
    ]
    /// Nothing listens on port 1: every adapter's request fails at once.
    static let nowhere = [
        "UPSTASH_REDIS_REST_URL": "http://127.0.0.1:1",
        "ANYCABLE_BROADCAST_URL": "http://127.0.0.1:1/_broadcast",
        "VERCEL_BLOB_API_URL": "http://127.0.0.1:1/api/blob",
    ]
    static let bearers = ["bearer-MARK8-opaque", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJNQVJLOSJ9.bearer-MARK9-sig"]

    /// The status line of `GET path` with `Authorization: Bearer token` on the loopback `port`.
    static func status(port: Int, _ path: String, bearer token: String) throws -> String {
        try loopbackStatusLine(port: port, path, bearer: token)
    }

    @Test func serveAtTraceLogsNoSecret() async throws {
        let scratch = Scratch()
        let job = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pipe = childPipe()
        let environment = Self.secrets.merging(Self.nowhere) { $1 }.merging(["JOBLEDGER_LOG_LEVEL": "trace"]) { $1 }
        let p = try startWithOutput(on: pipe, ["serve", "--db", "s.sqlite", "--port", "0", "--workers", "1", "--step-ms", "0", "--fail-rate", "0",
                                               "--broadcast", "anycable", "--blob-store", "vercel", "--status-cache", "upstash",
                                               "--rate-limiter", "upstash", "--drain", "1"],
                                    in: scratch, environment: environment)
        try pipe.fileHandleForWriting.close()  // the child holds its own
        let output = OutputCollector(pipe.fileHandleForReading, redacting: Array(Self.secrets.values) + Self.bearers)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let serving = try #require(await output.line(with: ["jobledger: serving http://"]))
        let address = try #require(serving.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression).map { serving[$0] })
        let port = try #require(Int(address.split(separator: ":").last ?? ""))
        for token in Self.bearers {
            #expect(try Self.status(port: port, "/api/jobs/\(job)", bearer: token) == "HTTP/1.1 401 Unauthorized")
        }
        // The job ran, and each adapter has failed at least once (and said so).
        #expect(await output.line(with: [" info jobledger.engine:", job, "completed"]) != nil)
        #expect(await output.line(with: ["projection=broadcast", "delivery failed"]) != nil)
        #expect(await output.line(with: ["projection=blob", "delivery failed"]) != nil)
        #expect(await output.line(with: ["projection=status-cache", "delivery failed"]) != nil)
        kill(p.processIdentifier, SIGTERM)
        await waitForExit(p, "serve after SIGTERM")
        await output.waitForEnd()
        let text = output.text
        // Logged at trace and debug indeed (the service group's lines among them).
        #expect(text.contains(" trace jobledger.") && text.contains(" debug jobledger.service:"), "\(output.shown)")
        for (name, value) in Self.secrets {
            #expect(!text.contains(value), "the value of \(name) was logged")
        }
        for (i, token) in Self.bearers.enumerated() {
            #expect(!text.contains(token), "bearer token \(i + 1) was logged")
        }
        // Not a part of one either.
        #expect(!text.contains("MARK"), "a secret's part was logged")
    }
}
