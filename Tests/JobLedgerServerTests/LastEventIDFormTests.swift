import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import Testing

/// `Last-Event-ID: +1` was read as seq 1 (`Int64` takes a sign), though the OpenAPI document's
/// pattern is `^[0-9]+$`. Digits only now, on the header and the query parameter; leading
/// zeros, which the pattern allows, are read as the number.
@Suite struct LastEventIDFormTests {
    @Test func onlyDigitsAreASeq() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await h.live { c async throws in try await c.submitDesign(auth) }
        try await h.workAndProject()
        try await h.live { c async throws in
            let all = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth)
            let ids = StreamTests.ids(all.body.text)
            let first = try #require(ids.first)
            for bad in ["+\(first)", "-0", " \(first)x", "1e1", "0x1"] {
                let r = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: bad])
                #expect(r.status == .badRequest && r.body.json?["field"] == "Last-Event-ID", "\(bad): \(r.status) \(r.body.text)")
                let query = try await c.api(.get, "/api/jobs/\(id)/stream?last_event_id=\(bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
                                            "/api/jobs/{id}/stream", headers: auth)
                #expect(query.status == .badRequest && query.body.json?["field"] == "last_event_id", "\(bad): \(query.status) \(query.body.text)")
            }
            // Leading zeros: the same seq.
            let padded = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "000\(first)"])
            #expect(padded.status == .ok && StreamTests.ids(padded.body.text) == Array(ids.dropFirst()), "\(padded.status)")
            // More digits than a seq holds: past the head, saying what was sent.
            let huge = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "99999999999999999999"])
            #expect(huge.status == .badRequest && huge.body.json?["detail"]?.stringValue?.contains("99999999999999999999 is out of range (a seq is at most 9223372036854775807), so past the log's head") == true, "\(huge.body.text)")
        }
    }

    /// `/api/live` took any `Last-Event-ID` (`+1`, `abc`, a seq past the head: each a reconnect,
    /// answered 200 or 204) where the job's stream answers 400. The same check now, on the
    /// header and on the `last_event_id` parameter, with the same problem.
    @Test func theLiveListChecksItAsTheJobStreamDoes() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await h.live { c async throws in try await c.submitDesign(auth) }
        try await h.workAndProject()
        try await h.live { c async throws in
            let all = try await c.api(.get, "/api/live?jobs=\(id)", "/api/live", headers: auth)
            let last = try #require(StreamTests.ids(all.body.text).last)
            for bad in ["+\(last)", "-0", "\(last)x", "abc", "1e1", "0x1"] {
                let r = try await c.api(.get, "/api/live?jobs=\(id)", "/api/live", headers: auth + [HTTPField.Name("Last-Event-ID")!: bad])
                #expect(r.status == .badRequest && r.body.json?["type"] == "/problems/invalid-header" && r.body.json?["field"] == "Last-Event-ID",
                        "\(bad): \(r.status) \(r.body.text)")
                let query = try await c.api(.get, "/api/live?jobs=\(id)&last_event_id=\(bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
                                            "/api/live", headers: auth)
                #expect(query.status == .badRequest && query.body.json?["field"] == "last_event_id", "\(bad): \(query.status) \(query.body.text)")
            }
            let past = try await c.api(.get, "/api/live?jobs=\(id)", "/api/live", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(last + 1000)"])
            #expect(past.status == .badRequest && past.body.json?["detail"]?.stringValue?.contains("\(last + 1000) is past the log's head") == true,
                    "\(past.body.text)")
            // A seq of this log (leading zeros allowed) is a reconnect, as before: the job has
            // finished, so the EventSource is told to stop.
            for good in ["\(last)", "000\(last)"] {
                let r = try await c.api(.get, "/api/live?jobs=\(id)", "/api/live", headers: auth + [HTTPField.Name("Last-Event-ID")!: good])
                #expect(r.status == .noContent, "\(good): \(r.status)")
                let query = try await c.api(.get, "/api/live?jobs=\(id)&last_event_id=\(good)", "/api/live", headers: auth)
                #expect(query.status == .noContent, "\(good): \(query.status)")
            }
        }
    }
}
