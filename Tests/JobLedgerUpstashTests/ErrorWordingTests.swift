import Foundation
import JobLedger
import JobLedgerTestSupport
@testable import JobLedgerUpstash
import Testing

/// What an error says names the service, the status and what to check — not only the server's
/// words — while a command error keeps Redis's words first for `isCommandError`.
@Suite struct ErrorWordingTests {
    func answer(_ status: Int, _ body: String) -> Result<JSONValue, UpstashError> {
        UpstashRedis.interpretForTests(UpstashHTTPResponse(status: status, body: Data(body.utf8)))
    }

    @Test(arguments: [404, 405, 418, 422])
    func aFourHundredWithAJSONErrorIsWrapped(_ status: Int) {
        guard case .failure(let e) = answer(status, #"{"error":"boom"}"#) else { Issue.record("expected a failure"); return }
        guard case .rejected = e else { Issue.record("\(e)"); return }
        let text = "\(e)"
        #expect(text.hasPrefix("Upstash at http://127.0.0.1:1 answered \(status): boom"), "\(text)")
        #expect(text.contains("UPSTASH_REDIS_REST_URL"), "\(text)")
        #expect(e.sinkError.description == text)
    }

    @Test func aCommandRedisRefusedSaysSoAndKeepsItsWordsFirst() {
        guard case .failure(let e) = answer(400, #"{"error":"NOSCRIPT No matching script"}"#) else { Issue.record("expected a failure"); return }
        #expect(e.isCommandError("NOSCRIPT"))
        #expect("\(e)" == "Upstash Redis refused the command: NOSCRIPT No matching script")
        #expect(e.sinkError == .rejected("Upstash Redis refused the command: NOSCRIPT No matching script"))
        guard case .failure(let bare) = answer(400, "not json") else { Issue.record("expected a failure"); return }
        #expect("\(bare)".contains("answered 400") && "\(bare)".contains("UPSTASH_REDIS_REST_URL"), "\(bare)")
    }

    /// An answer shorter than its Content-Length: the server was reached and answered, so the
    /// words say the answer was cut off (not an unknown URL error), and that it may have applied.
    @Test func aCutOffAnswerSaysSo() async throws {
        let server = try CutOffAnswerServer()
        defer { server.stop() }
        let redis = UpstashRedis(url: URL(string: "http://127.0.0.1:\(server.port)")!, token: "cut-off-test-token-5b1e", requestTimeout: .seconds(10), retries: 0)
        do {
            try await redis.send(["GET", "k"])
            Issue.record("expected a failure")
        } catch {
            #expect("\(error)".contains("the answer was cut off") && !"\(error)".contains("URL error"), "\(error)")
            guard case .unavailable(_, _, let mayHaveApplied) = error else { Issue.record("\(error)"); return }
            #expect(mayHaveApplied)
        }
    }
}
