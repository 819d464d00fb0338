import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobLedger
import JobLedgerTestSupport
@testable import JobLedgerServer
import Testing

/// Only a path's canonical spelling is served. Hummingbird's router skips empty segments, so
/// `//api/projections` and `/api/projections/` answered 200 as `/api/projections`; and
/// `/api/jobs/..` got `FileMiddleware`'s bare 400 "Bad Request" (`/problems/http-error`),
/// which said nothing of the path. An empty segment is a 404 naming the address; a `.` or
/// `..` segment a 400 `invalid-path` saying so. Sent over a socket, as written: a client
/// library may tidy a path before sending it.
@Suite struct CanonicalPathTests {
    @Test func nonCanonicalPathsAreNotServedAndSayWhy() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_root", role: "admin")
        let auth = "Authorization: Bearer \(token)\r\n"
        try await h.live { c async throws in
            let port = try #require(c.port)
            let id = try await c.submitDesign([.authorization: "Bearer \(token)"])
            func get(_ path: String, _ headers: String) async throws -> (status: Int, problem: JSONValue?) {
                let r = try await HostFieldTests.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)")
                return (r.status, HostFieldTests.problem(r.text))
            }
            #expect(try await get("/api/projections", auth).status == 200)
            for (path, canonical) in [("//api/projections", "/api/projections"), ("/api/projections/", "/api/projections"),
                                      ("/api//jobs", "/api/jobs"), ("/api/jobs/\(id)/", "/api/jobs/\(id)"), ("/jobs/\(id)//", "/jobs/\(id)")] {
                let r = try await get(path, auth)
                #expect(r.status == 404, "\(path)")
                #expect(r.problem?["detail"]?.stringValue?.hasSuffix("the address is \(canonical)") == true, "\(path): \(String(describing: r.problem))")
            }
            for (path, dots) in [("/api/jobs/..", ".."), ("/api/jobs/%2E%2e", ".."), ("/api/jobs/./\(id)", "."), ("/api/jobs/%2e", "."),
                                 ("/blobs/jobs/../log.sqlite", ".."), ("/api/../openapi.json", "..")] {
                let r = try await get(path, auth)
                #expect(r.status == 400 && r.problem?["type"] == "/problems/invalid-path", "\(path): \(String(describing: r.problem))")
                #expect(r.problem?["detail"]?.stringValue?.contains("may not contain '\(dots)'") == true, "\(path): \(String(describing: r.problem))")
            }
            // What is canonical is served as before: the dashboard's root and its pages, ids with dots.
            let cookie = "Cookie: __session=\(token)\r\n"
            for path in ["/", "/?state=queued", "/jobs/\(id)", "/static/dashboard.js", "/api/jobs?limit=1"] {
                #expect(try await get(path, cookie).status == 200, "\(path)")
            }
            #expect(try await get("/api/jobs/a..b", auth).status == 404, "an id with dots in it is a value, not a dot segment")
        }
    }

    @Test func pathRules() {
        for canonical in ["/", "/api/jobs", "/api/jobs/a.b", "/api/jobs/...", "/blobs/jobs/x/preview.png", "*"] {
            #expect(CanonicalPath.problem(method: "GET", path: canonical) == nil, "\(canonical)")
        }
        #expect(CanonicalPath.problem(method: "GET", path: "//")?.status == .notFound)
        #expect(CanonicalPath.problem(method: "GET", path: "/a/%2E")?.status == .badRequest)
    }

    /// The byte scan that lets most paths skip the split agrees with the split.
    @Test(arguments: [("/api/jobs", false), ("/healthz", false), ("/blobs/a/b.png", false), ("/api/jobs/a..b", false), ("/x%41", false),
                      ("/api/jobs/", true), ("//api/jobs", true), ("/api//jobs", true), ("/a/./b", true), ("/a/../b", true), ("/a/%2E%2e", true)])
    func theQuickScanAgreesWithTheSplit(_ path: String, _ refused: Bool) {
        #expect((CanonicalPath.problem(method: "GET", path: path) != nil) == refused, "\(path)")
        if refused { #expect(CanonicalPath.mayNotBeCanonical(path)) }
    }
}
