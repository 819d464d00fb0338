import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobLedger
import JobLedgerTestSupport
@testable import JobLedgerServer
import Testing

/// Which name a request is for, as RFC 9112 § 3.2 has it: the loopback check of
/// `--insecure-no-auth` took the first `Host` field and the request's `Host` alone, so two
/// `Host` fields (127.0.0.1, then evil.example), an absolute-form target naming another host,
/// `Host: 127.0.0.1:80@evil.example` and `Host: localhost:abc` were answered as loopback
/// requests. Several `Host` fields or an invalid one are a 400 naming `Host` (in any mode); an
/// absolute-form target's authority is the name checked (421 when not loopback). Sent over a
/// socket: a test client fixes the `Host` it sends.
@Suite struct HostFieldTests {
    static func exchange(port: Int, _ head: String) async throws -> (status: Int, text: String) {
        let c = try RawConnection(port: port)
        try c.send(head + "Connection: close\r\n\r\n")
        let text = await offPool { c.readUntilClosed(within: .seconds(30)).text }
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, text)
    }

    static func problem(_ text: String) -> JSONValue? {
        try? JSONValue(parsing: String(text[(text.range(of: "\r\n\r\n")?.upperBound ?? text.endIndex)...]))
    }

    @Test func withoutAuthenticationTheNameTheRequestIsForIsChecked() async throws {
        let h = try await ServerHarness.make(insecure: true); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            let bad: [(String, String)] = [
                ("two Host fields", "GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"),
                ("two loopback Host fields", "GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: localhost\r\n"),
                ("user info", "GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:80@evil.example\r\n"),
                ("a port that is not a number", "GET /api/jobs HTTP/1.1\r\nHost: localhost:abc\r\n"),
                ("two colons", "GET /api/jobs HTTP/1.1\r\nHost: localhost:80:81\r\n"),
                // A port no TCP connection can have was taken as loopback (200).
                ("a port out of range", "GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n"),
                ("a port out of range in the target", "GET http://127.0.0.1:65536/api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
                ("user info in the target", "GET http://x@127.0.0.1/api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
            ]
            for (what, head) in bad {
                let r = try await Self.exchange(port: port, head)
                #expect(r.status == 400, "\(what): \(r.text.prefix(300))")
                let p = Self.problem(r.text)
                #expect(p?["field"] == "Host" && p?["type"] == "/problems/invalid-header", "\(what): \(r.text.prefix(400))")
                let sent = String(r.text[(r.text.range(of: "\r\n\r\n")?.upperBound ?? r.text.endIndex)...])
                #expect(throws: Never.self, "\(what)") {
                    try OpenAPIChecker.shared.check("GET", "/api/jobs", status: 400, contentType: "application/problem+json", body: ByteBuffer(string: sent))
                }
            }
            // An absolute-form target's authority is the name the request is for (RFC 9112 § 3.2.2).
            for target in ["http://evil.example/api/jobs", "HTTP://evil.example:80/api/jobs?state=queued", "http://127.0.0.1.evil.example/api/jobs"] {
                let r = try await Self.exchange(port: port, "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                #expect(r.status == 421 && r.text.contains("not-loopback-host"), "\(target): \(r.text.prefix(300))")
            }
            let loopbackTarget = try await Self.exchange(port: port, "GET http://127.0.0.1:\(port)/api/jobs HTTP/1.1\r\nHost: evil.example\r\n")
            #expect(loopbackTarget.status == 200, "\(loopbackTarget.text.prefix(300))")
            // One loopback Host, with or without a port, as before.
            for host in ["127.0.0.1", "localhost:\(port)", "[::1]:\(port)"] {
                #expect(try await Self.exchange(port: port, "GET /api/jobs HTTP/1.1\r\nHost: \(host)\r\n").status == 200, "\(host)")
            }
        }
    }

    @Test func withAuthenticationSeveralOrInvalidHostFieldsAreRefusedToo() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            #expect(try await Self.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: jobs.example.com\r\nHost: other.example\r\n").status == 400)
            #expect(try await Self.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: jobs.example.com:https\r\n").status == 400)
            #expect(try await Self.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: jobs.example.com:443\r\n").status == 200)
            #expect(try await Self.exchange(port: port, "GET http://jobs.example.com/healthz HTTP/1.1\r\nHost: jobs.example.com\r\n").status == 200)
            // An HTTP/1.1 request must name its host (RFC 9112 § 3.2); HTTP/1.0 need not, and an
            // absolute-form target names it.
            let noHost = try await Self.exchange(port: port, "GET /healthz HTTP/1.1\r\n")
            #expect(noHost.status == 400 && Self.problem(noHost.text)?["field"] == "Host", "\(noHost.text.prefix(300))")
            #expect(try await Self.exchange(port: port, "GET /healthz HTTP/1.0\r\n").status == 200)
            #expect(try await Self.exchange(port: port, "GET http://jobs.example.com/healthz HTTP/1.1\r\n").status == 200)
            // The internal marker cannot be sent by a client: with a Host, it is removed, not obeyed.
            let marked = try await Self.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: jobs.example.com\r\n\(RequestAuthority.missingHostMarker): 1\r\n")
            #expect(marked.status == 200, "\(marked.text.prefix(300))")
        }
    }

    /// An empty `Host` with an origin-form target names no host: it was a 200 with
    /// authentication and a 421 without; a 400 naming `Host` in both modes, as Serve.md says.
    @Test(arguments: [false, true]) func anEmptyHostIsRefused(insecure: Bool) async throws {
        let h = try await ServerHarness.make(insecure: insecure); defer { h.cleanup() }
        try await h.live { c async throws in
            let port = try #require(c.port)
            for head in ["GET /healthz HTTP/1.1\r\nHost: \r\n", "GET /api/jobs HTTP/1.1\r\nHost:\r\n", "GET /healthz HTTP/1.0\r\nHost: \r\n",
                         "GET http:///healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"] {
                let r = try await Self.exchange(port: port, head)
                #expect(r.status == 400, "\(head.debugDescription): \(r.text.prefix(300))")
                let p = Self.problem(r.text)
                #expect(p?["field"] == "Host" && p?["type"] == "/problems/invalid-header", "\(head.debugDescription): \(r.text.prefix(400))")
            }
        }
    }

    @Test func hostSyntax() {
        for yes in ["", "localhost", "localhost:", "localhost:8080", "127.0.0.1", "[::1]", "[::1]:80", "[v1.x]", "a-b.example_~", "%6c%6f", "a!$&'()*+,;=b",
                    "localhost:65535", "localhost:0", "localhost:0080"] {
            #expect(BrowserGuard.isHostAndPort(yes), "\(yes)")
        }
        for no in ["127.0.0.1:80@evil.example", "user@localhost", "localhost:abc", "localhost:80:81", "[::1", "[]", "[::1]x", "[::1]:8a",
                   "a b", "a/b", "a?b", "é.example", "::1",
                   "127.0.0.1:99999", "localhost:65536", "[::1]:100000", "localhost:99999999999999999999999"] {
            #expect(!BrowserGuard.isHostAndPort(no), "\(no)")
        }
        #expect(RequestAuthority.authority(ofTarget: "http://evil.example/x?y") == "evil.example")
        #expect(RequestAuthority.authority(ofTarget: "https://a@b:1?q") == "a@b:1")
        #expect(RequestAuthority.authority(ofTarget: "http://h") == "h")
        for other in ["/api/jobs", "*", "/x?u=http://evil.example", "mailto:a@b", "1http://h/"] {
            #expect(RequestAuthority.authority(ofTarget: other) == nil, "\(other)")
        }
    }
}
