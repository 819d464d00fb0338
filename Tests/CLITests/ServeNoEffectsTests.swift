import Foundation
import JobLedgerTestSupport
import Testing

/// `serve --no-effects` made an in-process hub nothing ever broadcast to: a job's stream answered
/// 200 and stayed silent, even for a finished job. Its SSE routes answer 409 `no-broadcasts`.
@Suite struct ServeNoEffectsTests {
    /// The status line of `GET path` on the loopback `port` (one request, read until the head ends).
    static func status(port: Int, _ path: String) throws -> String {
        try loopbackStatusLine(port: port, path)
    }

    @Test func theStreamsOfAServerThatBroadcastsNothingAre409() async throws {
        let scratch = Scratch()
        let job = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0", "--workers", "0", "--no-effects"],
                                    in: scratch)
        defer { kill(p.processIdentifier, SIGKILL) }
        let serving = try #require(await waitForLine(containing: "jobledger: serving http://", in: pipe.fileHandleForReading))
        let address = try #require(serving.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression).map { serving[$0] })
        let port = try #require(Int(address.split(separator: ":").last ?? ""))
        #expect(try Self.status(port: port, "/api/jobs/\(job)/stream") == "HTTP/1.1 409 Conflict")
        #expect(try Self.status(port: port, "/api/live?jobs=\(job)") == "HTTP/1.1 409 Conflict")
        #expect(try Self.status(port: port, "/api/jobs/\(job)") == "HTTP/1.1 200 OK")
    }
}
