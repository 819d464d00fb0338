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
}
