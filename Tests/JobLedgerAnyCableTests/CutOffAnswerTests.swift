import Foundation
import JobLedger
import JobLedgerTestSupport
import Testing
@testable import JobLedgerAnyCable

/// An answer shorter than its Content-Length: the server was reached and answered, so the words
/// say the answer was cut off, not that the connection failed.
@Suite struct AnyCableCutOffAnswerTests {
    @Test func aCutOffAnswerSaysSo() async throws {
        let server = try CutOffAnswerServer()
        defer { server.stop() }
        let b = AnyCableBroadcaster(url: URL(string: "http://127.0.0.1:\(server.port)/_broadcast")!, key: "cut-off-test-key-9d2a", requestTimeout: .seconds(10))
        do {
            try await b.send([AnyCablePublication(stream: "s", data: "{}")])
            Issue.record("expected a failure")
        } catch {
            guard case .unavailable(let m, _) = error else { Issue.record("\(error)"); return }
            #expect(m.contains("answer cut off") && !m.contains("URL error"), "\(m)")
        }
    }
}
