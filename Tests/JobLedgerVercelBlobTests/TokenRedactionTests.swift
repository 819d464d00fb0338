import Foundation
import JobLedger
@testable import JobLedgerVercelBlob
import Testing

/// Answers every request with one status and JSON body.
struct CannedBlobAnswer: VercelBlobTransport {
    let status: Int
    let body: String
    func send(_ request: VercelBlobHTTPRequest) async throws(VercelBlobTransportError) -> VercelBlobHTTPResponse {
        VercelBlobHTTPResponse(status: status, headers: ["content-type": "application/json"], body: Data(body.utf8))
    }
}

/// A server message that quotes the token — whole, its secret part alone, or a piece of that —
/// never reaches an error's description, detail or code, nor the projection's `SinkError`.
@Suite struct TokenRedactionTests {
    static let secret = "Secret0123456789abcdefSECRET"  // testToken's secret part

    @Test(arguments: [testToken, secret, "3456789abcdef", "\(testStoreID)_Secret0123"])
    func aServerQuotingTheTokenOrItsSecretIsScrubbed(_ quoted: String) async throws {
        #expect(testToken.hasSuffix("_" + Self.secret))
        for (status, body) in [
            (403, #"{"error":{"code":"forbidden","message":"token \#(quoted) is not valid"}}"#),
            (400, #"{"error":{"code":"bad_request_\#(quoted)","message":"no"}}"#),
            (500, "upstream said \(quoted)"),
        ] {
            let store = VercelBlobStore(configuration: VercelBlobConfiguration(token: try VercelBlobToken(testToken), retries: 0),
                                        transport: CannedBlobAnswer(status: status, body: body), sleep: { _ in })
            do {
                _ = try await store.upload(pathname: "t.png", bytes: Data([1]), contentType: "image/png")
                Issue.record("expected a failure")
            } catch {
                for text in ["\(error)", error.detail, error.code ?? "", error.sinkError.description] {
                    for piece in ["Secret0123", "3456789abcde", "abcdefSECRET", Self.secret] {
                        #expect(!text.contains(piece), "\(status): \(piece) in \(text)")
                    }
                }
                #expect("\(error)".contains(testStoreID))  // the store id is no secret: it stays
            }
        }
    }

    @Test func theSecretPartIsWhatFollowsTheStoreID() {
        #expect(VercelBlobError.secretPart(of: testToken) == Self.secret)
        #expect(VercelBlobError.secretPart(of: "vercel_blob_rw_store_a_b") == "a_b")
        #expect(VercelBlobError.secretPart(of: "other") == "other")
    }
}
