import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// A refusal quotes at most 100 characters of what the client sent (a kind, a projection's
/// name, a path): a URL may be 80 KiB long, and the problem used to carry all of it back.
@Suite struct QuotedClientTextTests {
    @Test func aLongKindNameOrPathIsQuotedShort() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice"), admin = try await h.auth("user_root", role: "admin")
        let long = String(repeating: "k", count: 5000)
        try await h.live { c async throws in
            for (method, uri, template, auth) in [(HTTPRequest.Method.post, "/api/jobs/\(long)", "/api/jobs/{kind}", alice),
                                                  (.post, "/api/projections/\(long)/redrive", "/api/projections/{name}/redrive", admin)] {
                let r = try await c.api(method, uri, template, headers: auth, body: body(#"{"input":{"prompt":"p"}}"#))
                #expect(r.status == .notFound, "\(template)")
                let detail = r.body.json?["detail"]?.stringValue ?? ""
                #expect(detail.count < 300 && detail.contains(String(repeating: "k", count: 100) + "…"), "\(template): \(detail.count) characters")
            }
            let r = try await c.executeRequest(uri: "/\(long)", method: .get, headers: [:], body: nil)
            #expect(r.status == .notFound)
            #expect((r.body.json?["detail"]?.stringValue?.count ?? .max) < 300, "\(r.body.text.count) bytes")
            // A short one is quoted whole.
            let short = try await c.api(.post, "/api/jobs/sketch", "/api/jobs/{kind}", headers: alice, body: body(#"{"input":{}}"#))
            #expect(short.body.json?["detail"]?.stringValue?.hasPrefix("no job kind 'sketch' is served here") == true)
        }
    }
}
