import Foundation
import JobLedgerTestSupport
import Testing

/// `serve` with the Upstash limiter and a token Upstash refuses started and said it was ready,
/// and every submit was then refused with 503 "try again shortly" (the 401 only in its log).
/// It now sends one PING at start: a refused token is exit 2 naming the variable, before the
/// log is created, without the token; Upstash not answering is a warning, and the server starts.
@Suite struct ServeUpstashLimiterStartTests {
    /// Answers every request as Upstash answers a wrong token (401 WRONGPASS), on loopback.
    static let wrongPass = """
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error":"WRONGPASS invalid or missing auth token"}'
            self.send_response(401); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    s = http.server.HTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
    """

    @Test func aTokenUpstashRefusesStopsTheServerAtStart() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.wrongPass]
        let out = childPipe()
        p.standardOutput = out
        try startChild(p)
        defer { p.terminate(); waitForChildExit(p, within: .seconds(10)) }
        let line = await offPool { String(decoding: out.fileHandleForReading.availableData, as: UTF8.self) }
        let port = try #require(Int(line.trimmingCharacters(in: .whitespacesAndNewlines)), "\(line)")
        let scratch = Scratch()
        let token = "AXwrongSECRETtoken0123456789"
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0", "--rate-limiter", "upstash"], in: scratch,
                                    environment: ["UPSTASH_REDIS_REST_URL": "http://127.0.0.1:\(port)", "UPSTASH_REDIS_REST_TOKEN": token])
        expectRefusal(r, exit: 2, mentions: ["Upstash refused the token in UPSTASH_REDIS_REST_TOKEN", "WRONGPASS"])
        #expect(!r.stderr.contains("SECRET"), "the token was printed: \(r)")
        #expect(!scratch.exists("s.sqlite"), "the log was created: \(r)")
    }

    @Test func upstashNotAnsweringAtStartIsAWarningNotARefusal() async throws {
        let scratch = Scratch()
        // A port that takes connections and never answers: Upstash down behind a load balancer.
        let silent = try ListeningSocket()
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0", "--workers", "0", "--rate-limiter", "upstash"],
                                    in: scratch, environment: ["UPSTASH_REDIS_REST_URL": "http://127.0.0.1:\(silent.port)",
                                                               "UPSTASH_REDIS_REST_TOKEN": "AXtoken0123456789", "JOBLEDGER_UPSTASH_TIMEOUT_MS": "1000"])
        defer { kill(p.processIdentifier, SIGKILL) }
        let warning = await waitForLine(containing: "Upstash (the submit limiter's store) does not answer now", in: pipe.fileHandleForReading)
        #expect(warning?.contains("submits are refused with 503 until it does") == true, "\(warning ?? "no warning")")
        #expect(await waitForLine(containing: "jobledger: serving http://", in: pipe.fileHandleForReading) != nil)
    }
}
