import Foundation
import JobLedger
import JobLedgerTestSupport
import JobLedgerVercelBlob
import Testing

/// An answer shorter than its Content-Length: the store was reached and answered, so the words
/// say the answer was cut off, not that Vercel Blob could not be reached.
@Suite struct CutOffAnswerTests {
    @Test func aCutOffAnswerSaysSoAndIsRetried() async throws {
        let server = try CutOffAnswerServer()
        defer { server.stop() }
        let config = VercelBlobConfiguration(token: try VercelBlobToken(testToken), apiURL: URL(string: "http://127.0.0.1:\(server.port)/api/blob")!,
                                             requestTimeout: .seconds(10), retries: 0)
        do {
            _ = try await VercelBlobStore(configuration: config).upload(pathname: "c.png", bytes: Data([1]), contentType: "image/png")
            Issue.record("expected a failure")
        } catch {
            #expect(error.kind == .cutOff && error.isRetryable)
            #expect("\(error)".contains("the answer was cut off") && !"\(error)".contains("could not be reached") && !"\(error)".contains("URL error"), "\(error)")
        }
    }
}
