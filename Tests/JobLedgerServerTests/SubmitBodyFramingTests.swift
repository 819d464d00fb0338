import Foundation
import Hummingbird
import HTTPTypes
import JobLedger
import JobLedgerTestSupport
@testable import JobLedgerServer
import Testing

/// A submit whose body cannot be read as sent (its chunked framing is broken, or it ends before
/// its `Content-Length`) was answered 413 "the body is over 65536 bytes", whatever went wrong:
/// only a body over the limit is a 413 now, any other is a 400 `malformed-body` naming `body`.
/// And a transfer coding other than `chunked` (`gzip, chunked`) was ignored, the body read as
/// plain chunks and the job queued: it is a 415 `unsupported-transfer-coding` now. Sent over a
/// socket: a test client frames bodies correctly.
@Suite struct SubmitBodyFramingTests {
    static let json = #"{"input":{"prompt":"x"}}"#

    /// Sends `head` (ending in the empty line) and `rest`, half-closes when asked, and reads the answer.
    static func exchange(port: Int, _ text: String, halfClose: Bool = false) async throws -> (status: Int, text: String, problem: JSONValue?) {
        let c = try RawConnection(port: port)
        try c.send(text)
        if halfClose { c.shutdownWrite() }
        let answer = await offPool { c.readUntilClosed(within: .seconds(30)).text }
        let status = Int(answer.split(separator: " ").dropFirst().first ?? "") ?? 0
        let bodyText = String(answer[(answer.range(of: "\r\n\r\n")?.upperBound ?? answer.endIndex)...])
        return (status, answer, try? JSONValue(parsing: bodyText))
    }

    static func head(_ token: String, _ framing: String) -> String {
        "POST /api/design HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nConnection: close\r\n\(framing)\r\n"
    }

    @Test func aBodyThatCannotBeReadIs400NotTooLarge() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token()
        let n = String(Self.json.utf8.count, radix: 16)
        try await h.live { c async throws in
            let port = try #require(c.port)
            let cases: [(String, String, Bool)] = [
                ("a chunk size that is not hex", Self.head(token, "Transfer-Encoding: chunked\r\n") + "zz\r\n\(Self.json)\r\n0\r\n\r\n", false),
                ("chunks framed with bare LF", Self.head(token, "Transfer-Encoding: chunked\r\n") + "\(n)\n\(Self.json)\n0\n\n", false),
                ("a trailer with Content-Length", Self.head(token, "Transfer-Encoding: chunked\r\n") + "\(n)\r\n\(Self.json)\r\n0\r\nContent-Length: 99\r\n\r\n", false),
                ("a body shorter than its Content-Length, then a half-close", Self.head(token, "Content-Length: 100\r\n") + Self.json, true),
            ]
            for (what, text, halfClose) in cases {
                let r = try await Self.exchange(port: port, text, halfClose: halfClose)
                #expect(r.status == 400, "\(what): \(r.text.prefix(400))")
                #expect(r.problem?["type"] == "/problems/malformed-body" && r.problem?["field"] == "body", "\(what): \(r.text.prefix(400))")
                let sent = String(r.text[(r.text.range(of: "\r\n\r\n")?.upperBound ?? r.text.endIndex)...])
                #expect(throws: Never.self, "\(what)") {
                    try OpenAPIChecker.shared.check("POST", "/api/design", status: 400, contentType: "application/problem+json", body: ByteBuffer(string: sent))
                }
            }
            // Over the limit is still a 413, chunked or not.
            let big = "{\"input\":{\"prompt\":\"x\",\"pad\":\"" + String(repeating: "a", count: SubmitRequest.maxBodyBytes) + "\"}}"
            let chunked = Self.head(token, "Transfer-Encoding: chunked\r\n") + String(big.utf8.count, radix: 16) + "\r\n" + big + "\r\n0\r\n\r\n"
            let tooLarge = try await Self.exchange(port: port, chunked)
            #expect(tooLarge.status == 413 && tooLarge.problem?["type"] == "/problems/too-large", "\(tooLarge.text.prefix(400))")
        }
        #expect(try h.ledger.eventCount() == 0)
    }

    @Test func aTransferCodingOtherThanChunkedIs415AndWritesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token()
        let n = String(Self.json.utf8.count, radix: 16)
        try await h.live { c async throws in
            let port = try #require(c.port)
            for coding in ["gzip, chunked", "deflate,chunked", "GZIP , Chunked"] {
                let r = try await Self.exchange(port: port, Self.head(token, "Transfer-Encoding: \(coding)\r\n") + "\(n)\r\n\(Self.json)\r\n0\r\n\r\n")
                #expect(r.status == 415, "\(coding): \(r.text.prefix(400))")
                #expect(r.problem?["type"] == "/problems/unsupported-transfer-coding" && r.problem?["field"] == "Transfer-Encoding", "\(coding): \(r.text.prefix(400))")
                let sent = String(r.text[(r.text.range(of: "\r\n\r\n")?.upperBound ?? r.text.endIndex)...])
                #expect(throws: Never.self, "\(coding)") {
                    try OpenAPIChecker.shared.check("POST", "/api/design", status: 415, contentType: "application/problem+json", body: ByteBuffer(string: sent))
                }
            }
            #expect(try h.ledger.eventCount() == 0)
            // Plain chunked, in any case, is read as before.
            for coding in ["chunked", "Chunked"] {
                let ok = try await Self.exchange(port: port, Self.head(token, "Transfer-Encoding: \(coding)\r\n") + "\(n)\r\n\(Self.json)\r\n0\r\n\r\n")
                #expect(ok.status == 202, "\(coding): \(ok.text.prefix(400))")
            }
        }
    }
}
