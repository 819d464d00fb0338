import Foundation
import JobLedger
import JobLedgerUpstash
import Synchronization
import Testing

/// A transport that answers every request with one canned response, and counts them.
final class CannedUpstash: UpstashTransport, @unchecked Sendable {
    // @unchecked: the only state is behind a Mutex.
    let status: Int
    let body: String
    private let count = Mutex(0)
    init(status: Int = 200, body: String) { self.status = status; self.body = body }
    var requests: Int { count.withLock { $0 } }
    func send(_ request: UpstashHTTPRequest) async throws(UpstashTransportError) -> UpstashHTTPResponse {
        count.withLock { $0 += 1 }
        return UpstashHTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Data(body.utf8))
    }
}

/// A server message that quotes the token never leaves the client with it: not from a single
/// command, not from one command of a pipeline or a transaction, not from a refused request.
@Suite struct RedactionTests {
    static let token = "upTOKsecret-777abc"
    static let said = "NOPERM user \(token) has no permissions"

    func client(_ t: CannedUpstash) -> UpstashRedis {
        UpstashRedis(url: URL(string: "http://127.0.0.1:1")!, token: UpstashSecret(Self.token), retries: 0, transport: t)
    }

    func expectClean(_ e: UpstashError, _ where_: String) {
        #expect(!"\(e)".contains(Self.token), "\(where_): \(e)")
        #expect(!String(reflecting: e).contains(Self.token), "\(where_)")
        #expect(!e.sinkError.description.contains(Self.token), "\(where_)")
        #expect("\(e)".contains("NOPERM"), "\(where_): the server's other words stay: \(e)")
    }

    @Test func aCommandErrorInsideAPipelineIsScrubbed() async throws {
        let body = #"[{"result":"T0s="},{"error":"\#(Self.said)"}]"#
        let replies = try await client(CannedUpstash(body: body)).pipeline([["SET", "a", "1"], ["GET", "a"]])
        #expect(try replies[0].get().string == "OK")
        guard case .failure(let e) = replies[1] else { Issue.record("the second command must fail"); return }
        expectClean(e, "pipeline")
    }

    @Test func aCommandErrorInsideATransactionIsScrubbed() async throws {
        let body = #"[{"error":"\#(Self.said)"},{"result":"T0s="}]"#
        let replies = try await client(CannedUpstash(body: body)).transaction([["SET", "a", "1"], ["SET", "b", "1"]])
        guard case .failure(let e) = replies[0] else { Issue.record("the first command must fail"); return }
        expectClean(e, "transaction")
        // A transaction discarded as a whole.
        do {
            _ = try await client(CannedUpstash(body: #"{"error":"\#(Self.said)"}"#)).transaction([["SET", "a", "1"]])
            Issue.record("expected the transaction to fail")
        } catch { expectClean(error, "discarded transaction") }
    }

    @Test func aSingleCommandsErrorIsScrubbedWhateverTheStatus() async throws {
        for status in [200, 400] {
            do {
                try await client(CannedUpstash(status: status, body: #"{"error":"\#(Self.said)"}"#)).send(["GET", "a"])
                Issue.record("expected an error (\(status))")
            } catch { expectClean(error, "single command, \(status)") }
        }
    }
}
