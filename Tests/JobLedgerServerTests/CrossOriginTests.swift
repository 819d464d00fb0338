import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// Cross-site request forgery: a browser sends the `__session` cookie (and, in
/// `--insecure-no-auth` mode, nothing at all is needed) with whatever another site's page makes
/// it send. A request that changes something and is not authenticated by its own
/// `Authorization` header must come from this server's pages; nothing is written otherwise.
@Suite struct CrossOriginTests {
    static let design = #"{"input":{"prompt":"csrf"}}"#
    static let origin = HTTPField.Name("Origin")!
    static let site = HTTPField.Name("Sec-Fetch-Site")!

    @Test func aCookieSubmitOrCancelFromAnotherSiteIsRefusedAndWritesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.token("user_alice"), admin = try await h.token("user_root", role: "admin")
        try await h.live { c async throws in
            let own = try await c.api(.post, "/api/design", "/api/design", headers: [.authorization: "Bearer \(alice)"], body: body(Self.design))
            let id = try #require(own.body.json?["id"]?.stringValue)
            let before = try h.ledger.eventCount()
            let forged: [(HTTPFields, String)] = [
                ([.cookie: "__session=\(alice)", Self.origin: "https://evil.example", .contentType: "text/plain"], "/api/design"),
                ([.cookie: "__session=\(alice)", Self.site: "cross-site"], "/api/design"),
                ([.cookie: "__session=\(alice)", Self.site: "same-site", Self.origin: "https://sub.evil.example"], "/api/design"),
                ([.cookie: "__session=\(admin)", Self.origin: "https://evil.example"], "/api/jobs/\(id)/cancel"),
                ([.cookie: "__session=\(admin)", Self.origin: "null"], "/api/jobs/\(id)/cancel"),
            ]
            for (headers, uri) in forged {
                // Checked against the document: a submit's 403 is one of its answers too.
                let r = try await c.api(.post, uri, uri == "/api/design" ? "/api/design" : "/api/jobs/{id}/cancel", headers: headers, body: body(Self.design))
                #expect(r.status == .forbidden, "\(uri) \(headers)")
                #expect(r.body.text.contains("cross-origin"), "\(r.body.text)")
            }
            #expect(try h.ledger.eventCount() == before, "a forged request wrote something")
            // The server's own pages (same origin), a bearer token from anywhere (a script that
            // holds the token is not a forgery), and a client that is no browser page are let through.
            // (The test client names the server `localhost`, without a port; a browser's Host and
            // Origin carry the port, which the headless browser test exercises.)
            let fine: [HTTPFields] = [
                [.cookie: "__session=\(alice)", Self.origin: "http://localhost", Self.site: "same-origin"],
                [.cookie: "__session=\(alice)", Self.origin: "http://localhost"],
                [.authorization: "Bearer \(alice)", Self.origin: "https://elsewhere.example", Self.site: "cross-site"],
                [.cookie: "__session=\(alice)"],
            ]
            for headers in fine {
                let r = try await c.executeRequest(uri: "/api/design", method: .post, headers: headers, body: body(Self.design))
                #expect(r.status == .accepted, "\(headers): \(r.body.text)")
            }
        }
    }

    @Test func theInsecureLocalModeIsGuardedToo() async throws {
        let h = try await ServerHarness.make(insecure: true); defer { h.cleanup() }
        try await h.live { c async throws in
            let r = try await c.executeRequest(uri: "/api/design", method: .post, headers: [Self.origin: "https://evil.example"], body: body(Self.design))
            #expect(r.status == .forbidden)
            #expect(try h.ledger.eventCount() == 0)
            let local = try await c.executeRequest(uri: "/api/design", method: .post, headers: [:], body: body(Self.design))
            #expect(local.status == .accepted)
        }
    }

    @Test func theProjectionsPageIsForAdminsOnly() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.live { c async throws in
            let user = try await c.executeRequest(uri: "/projections", method: .get, headers: [.cookie: "__session=\(try await h.token("user_alice"))"], body: nil)
            #expect(user.status == .forbidden)
            #expect(!user.body.text.contains("data-projection"))
            let list = try await c.executeRequest(uri: "/", method: .get, headers: [.cookie: "__session=\(try await h.token("user_alice"))"], body: nil)
            #expect(!list.body.text.contains("href=\"/projections\""), "a user is not shown the link")
            let admin = try await c.executeRequest(uri: "/projections", method: .get, headers: [.cookie: "__session=\(try await h.token("user_root", role: "admin"))"], body: nil)
            #expect(admin.status == .ok && admin.body.text.contains("data-projection=\"jobs\""))
        }
    }
}
