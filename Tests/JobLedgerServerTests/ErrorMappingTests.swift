import Foundation
import Hummingbird
import HummingbirdTesting
import JobLedgerServer
import Testing

/// Hummingbird's own errors as problems: the 400 its `FileMiddleware` answers for a `/blobs/`
/// path with `..` said only "Bad Request", which tells the client nothing about what to change.
@Suite struct ErrorMappingTests {
    @Test func aBlobPathWithDotDotSaysWhyItIsRefused() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            for uri in ["/blobs/jobs/../log.sqlite", "/blobs/jobs/%2e%2e/log.sqlite"] {
                let r = try await c.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
                #expect(r.status == .badRequest && r.headers[.contentType] == "application/problem+json")
                #expect(r.body.json?["detail"]?.stringValue?.contains("may not contain '..'") == true, "\(uri): \(r.body.text)")
            }
        }
    }
}
