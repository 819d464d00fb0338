import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// A query parameter given twice was read as its first value, silently: `?limit=5&limit=500`
/// answered 5 jobs, and `/api/live?jobs=A&jobs=B` (how many clients write a list) followed A
/// only. A scalar parameter given twice is refused, naming it; `jobs` may be repeated.
@Suite struct RepeatedQueryParameterTests {
    @Test func aScalarParameterGivenTwiceIsRefusedNamingIt() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            let id = try await c.submitDesign(alice)
            for (query, field) in [("limit=5&limit=500", "limit"), ("state=failed&state=queued", "state"), ("kind=a&kind=b", "kind"),
                                   ("cursor=\(id)&cursor=\(id)", "cursor")] {
                let r = try await c.api(.get, "/api/jobs?\(query)", "/api/jobs", headers: alice)
                #expect(r.status == .unprocessableContent && r.body.json?["field"] == .string(field), "\(query): \(r.body.text)")
                #expect(r.body.json?["detail"]?.stringValue?.contains("given 2 times") == true)
            }
            #expect(try await c.api(.get, "/api/jobs?limit=5", "/api/jobs", headers: alice).status == .ok)
            let twice = try await c.api(.get, "/api/jobs/\(id)/stream?last_event_id=1&last_event_id=2", "/api/jobs/{id}/stream", headers: alice)
            #expect(twice.status == .badRequest && twice.body.json?["field"] == "last_event_id", "\(twice.body.text)")
        }
    }

    /// A parameter the list does not read was ignored: a misspelt or percent-encoded filter
    /// (`?stat=failed`, `?st%61te=bogus`) answered every job, as if filtered. `limit=+1` was read as 1.
    @Test func aParameterTheListDoesNotReadIsRefused() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            _ = try await c.submitDesign(alice)
            // A stray `&` is no parameter.
            #expect(try await c.api(.get, "/api/jobs?&limit=5&&state=queued", "/api/jobs", headers: alice).status == .ok)
            for (query, field) in [("stat=failed", "stat"), ("st%61te=bogus", "st%61te"), ("STATE=queued", "STATE"), ("limit=1&lim%69t=2", "lim%69t"),
                                   ("limit=%2B1", "limit"), ("limit=+1", "limit")] {
                let r = try await c.api(.get, "/api/jobs?\(query)", "/api/jobs", headers: alice)
                #expect(r.status == .unprocessableContent && r.body.json?["field"] == .string(field), "\(query): \(r.body.text)")
            }
            let unknown = try await c.api(.get, "/api/jobs?stat=failed", "/api/jobs", headers: alice)
            #expect(unknown.body.json?["detail"] == "unknown parameter stat (this route reads cursor, kind, limit, state)")
            #expect(try await c.api(.get, "/api/jobs?state=queued&kind=design&limit=1", "/api/jobs", headers: alice).status == .ok)
        }
    }

    /// The history and the live list ignored a parameter they do not read: `?afer=214` (a
    /// misspelt `after`) answered every event, a page nobody asked for.
    @Test func aParameterTheHistoryOrTheLiveListDoesNotReadIsRefused() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            let id = try await c.submitDesign(alice)
            let misspelt = try await c.api(.get, "/api/jobs/\(id)/events?afer=1", "/api/jobs/{id}/events", headers: alice)
            #expect(misspelt.status == .unprocessableContent && misspelt.body.json?["field"] == "afer", "\(misspelt.body.text)")
            #expect(misspelt.body.json?["detail"] == "unknown parameter afer (this route reads after, limit)")
            #expect(try await c.api(.get, "/api/jobs/\(id)/events?after=0&limit=5", "/api/jobs/{id}/events", headers: alice).status == .ok)
            let live = try await c.api(.get, "/api/live?jobs=\(id)&foo=1", "/api/live", headers: alice)
            #expect(live.status == .unprocessableContent && live.body.json?["field"] == "foo", "\(live.body.text)")
        }
    }

    /// Two credentials where one is read were taken as the first: `__session` cookies of two
    /// users (in one field or two), `access_token` twice on the stream. Two users' cookies,
    /// and `access_token` twice, are refused; a stale cookie beside the current one (a browser
    /// sends both when they were set for other paths or domains) is the user the other proves.
    @Test func twoCredentialsOfOneKindAreSortedOutOrRefused() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.token("user_alice"), bob = try await h.token("user_bob")
        let stale = try await h.token("user_alice", expIn: -3600)
        try await h.live { c async throws in
            // Two Authorization fields were read joined: "malformed token: not three dot-separated parts".
            var twoAuth = HTTPFields()
            twoAuth.append(HTTPField(name: .authorization, value: "Bearer \(alice)"))
            twoAuth.append(HTTPField(name: .authorization, value: "Bearer \(bob)"))
            let both = try await c.api(.get, "/api/jobs", "/api/jobs", headers: twoAuth)
            #expect(both.status == .unauthorized && both.body.json?["detail"] == "2 Authorization fields were sent; send one", "\(both.body.text)")
            let id = try await c.submitDesign(try await h.auth("user_alice"))
            let oneField = try await c.api(.get, "/api/jobs", "/api/jobs", headers: [.cookie: "__session=\(bob); __session=\(alice)"])
            #expect(oneField.status == .unauthorized && oneField.body.json?["detail"]?.stringValue?.contains("__session cookies of different users") == true, "\(oneField.body.text)")
            var twoFields = HTTPFields()
            twoFields.append(HTTPField(name: .cookie, value: "__session=\(bob)"))
            twoFields.append(HTTPField(name: .cookie, value: "__session=\(alice)"))
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: twoFields).status == .unauthorized)
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: [.cookie: "__session=\(alice); theme=dark; __session=\(alice)"]).status == .ok)
            // A stale cookie first, then the current one: the caller is alice, who sees her job.
            let sorted = try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: [.cookie: "__session=\(stale); __session=\(alice)"])
            #expect(sorted.status == .ok, "\(sorted.body.text)")
            let onlyStale = try await c.api(.get, "/api/jobs", "/api/jobs", headers: [.cookie: "__session=\(stale); __session=garbage"])
            #expect(onlyStale.status == .unauthorized, "\(onlyStale.body.text)")
            let stream = try await c.api(.get, "/api/jobs/\(id)/stream?access_token=\(bob)&access_token=\(alice)", "/api/jobs/{id}/stream")
            #expect(stream.status == .unauthorized && stream.body.json?["detail"]?.stringValue?.contains("access_token was given 2 times") == true, "\(stream.body.text)")
        }
    }

    @Test func repeatedJobsParametersAreOneList() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        let ids = try await h.live { c async throws in [try await c.submitDesign(alice), try await c.submitDesign(alice), try await c.submitDesign(alice)] }
        try await h.workAndProject()
        try await h.live { c async throws in
            // Every job has finished: the stream is each one's latest message, then it ends.
            let r = try await c.api(.get, "/api/live?jobs=\(ids[0])&jobs=\(ids[1]),\(ids[2])", "/api/live", headers: alice)
            #expect(r.status == .ok)
            let jobs = r.body.text.split(separator: "\n").filter { $0.hasPrefix("data: ") }
                .compactMap { try? JSONValue(parsing: String($0.dropFirst(6))) }.compactMap { $0["job"]?.stringValue ?? $0["id"]?.stringValue }
            #expect(Set(jobs) == Set(ids), "\(r.body.text.prefix(600))")
        }
    }
}
