import Foundation
import JobLedgerTestSupport
import Testing

/// `serve` on a port another process listens on: one line that names the address and what to
/// do, exit 2, and nothing started: no log created, no engine (whose claims, cancelled as the
/// server failed, read as storage errors).
@Suite struct ServeListenTests {
    @Test func serveOnAPortInUseSaysSoBeforeTouchingTheLog() async throws {
        let scratch = Scratch()
        let taken = try ListeningSocket()
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "\(taken.port)"], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["cannot listen on 127.0.0.1:\(taken.port)", "already in use", "choose another --port"])
        #expect(!r.stderr.contains("CancellationError"), "\(r)")
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(r)")
    }

    /// --port 0 (any free port) goes through the same check: a --host that is not one of this
    /// machine's addresses (TEST-NET-1 never is), or that does not resolve, is one line and exit 2
    /// before the log is created; it was found only by the server's bind, after the workers ran.
    @Test func aBadHostWithPortZeroIsRefusedBeforeTouchingTheLog() async throws {
        let scratch = Scratch()
        let secret = ["JOBLEDGER_AUTH_HS256_SECRET": String(repeating: "k", count: 40)]
        let foreign = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0", "--host", "192.0.2.1"], in: scratch, environment: secret)
        expectRefusal(foreign, exit: 2, mentions: ["cannot listen on 192.0.2.1:0", "not one of this machine's", "check --host"])
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(foreign)")
        let unknown = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0", "--host", "nonexistent.invalid"], in: scratch, environment: secret)
        expectRefusal(unknown, exit: 2, mentions: ["cannot listen on nonexistent.invalid:0", "does not resolve", "check --host"])
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(unknown)")
    }

    /// `--insecure-no-auth` binds to loopback only: any of 127.0.0.0/8 is loopback (127.0.0.2
    /// was refused as "not a loopback address", while the server's Host check takes them all).
    @Test func insecureNoAuthTakesAnyLoopbackAddress() async throws {
        let scratch = Scratch()
        let taken = try ListeningSocket(address: "127.0.0.2")
        let second = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--host", "127.0.0.2", "--port", "\(taken.port)"], in: scratch)
        expectRefusal(second, exit: 2, mentions: ["cannot listen on 127.0.0.2:\(taken.port)", "already in use"])
        for host in ["10.1.2.3", "127.0.0.256", "127.0.0", "127.0.0.1.5"] {
            let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--host", host, "--port", "0"], in: scratch)
            expectRefusal(r, exit: 2, mentions: ["--host \(host) is not a loopback address"])
        }
    }

    /// JOBLEDGER_RATE_LIMIT is read before the port is tried: empty counts as unset (as for
    /// every variable, .env.example says), and a bad value is refused naming it.
    @Test func anEmptyRateLimitIsUnsetAndABadOneIsNamed() async throws {
        let scratch = Scratch()
        let taken = try ListeningSocket()
        let args = ["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "\(taken.port)"]
        let empty = try await jobledger(args, in: scratch, environment: ["JOBLEDGER_RATE_LIMIT": " "])
        expectRefusal(empty, exit: 2, mentions: ["cannot listen on 127.0.0.1:\(taken.port)"])
        #expect(!empty.stderr.contains("JOBLEDGER_RATE_LIMIT"), "\(empty)")
        let bad = try await jobledger(args, in: scratch, environment: ["JOBLEDGER_RATE_LIMIT": "token:5/1s"])
        expectRefusal(bad, exit: 2, mentions: ["JOBLEDGER_RATE_LIMIT", "unknown window kind 'token'"])
    }

    /// --insecure-no-auth beside an auth variable: tokens stay required, and a warning says the
    /// flag is ignored (it was ignored without a word, and every request got 401).
    @Test func insecureNoAuthBesideAnAuthVariableIsSaidToBeIgnored() async throws {
        let scratch = Scratch()
        let taken = try ListeningSocket()
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "\(taken.port)"], in: scratch,
                                    environment: ["JOBLEDGER_AUTH_HS256_SECRET": String(repeating: "k", count: 40)])
        #expect(r.status == 2, "\(r)")
        #expect(r.stderrLines.first?.contains("warning: --insecure-no-auth is ignored: a JOBLEDGER_AUTH_* variable is set") == true, "\(r)")
        #expect(r.stderrLines.last?.contains("cannot listen on 127.0.0.1:\(taken.port)") == true, "\(r)")
        #expect(!r.stderr.contains(String(repeating: "k", count: 40)), "the secret was printed: \(r)")
        let plain = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "\(taken.port)"], in: scratch,
                                        environment: ["JOBLEDGER_AUTH_HS256_SECRET": "", "JOBLEDGER_AUTH_JWKS": ""])
        #expect(!plain.stderr.contains("is ignored"), "\(plain)")
    }

    /// --rate-limiter upstash without its variables is refused like --status-cache upstash:
    /// exit 2 naming the variable, before a log is created (it was made first, then left behind).
    @Test func anUpstashLimiterWithoutItsURLIsRefusedBeforeTheLogIsCreated() async throws {
        let scratch = Scratch()
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0", "--rate-limiter", "upstash"],
                                    in: scratch, environment: ["UPSTASH_REDIS_REST_URL": "", "KV_REST_API_URL": ""])
        expectRefusal(r, exit: 2, mentions: ["UPSTASH_REDIS_REST_URL is not set"])
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(r)")
    }
}
