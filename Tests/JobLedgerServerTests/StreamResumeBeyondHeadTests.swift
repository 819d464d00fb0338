import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A `Last-Event-ID` past the log's head (a log restored from a backup, an id from another
/// log): the stream used to skip every new message as already seen and send keep-alives until
/// `--max-stream-seconds`, and the browser, reconnecting with the same id, got the same again.
/// It is a 400 naming the header and the head, whatever state the job is in.
@Suite struct StreamResumeBeyondHeadTests {
    @Test func anIDPastTheHeadIsA400NamingTheHead() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        try await h.live { c async throws in
            // No worker runs: the job stays queued, and the stream would stay open.
            let id = try await c.submitDesign(auth)
            _ = try await h.runner.catchUp()
            let head = try #require(try h.ledger.head()?.seq)
            for (name, request) in [("Last-Event-ID", (uri: "/api/jobs/\(id)/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(head + 1)"])),
                                    ("last_event_id", (uri: "/api/jobs/\(id)/stream?last_event_id=\(head + 500)", headers: auth))] {
                let r = try await c.api(.get, request.uri, "/api/jobs/{id}/stream", headers: request.headers)
                #expect(r.status == .badRequest, "\(name): \(r.status)")
                let problem = try #require(r.body.json)
                #expect(problem["field"] == .string(name) && problem["type"] == "/problems/invalid-header")
                #expect(problem["detail"]?.stringValue?.contains("head (seq \(head))") == true, "\(problem)")
            }
        }
        // Finished: a seq past the head is no "already has the last word" (204) either.
        try await h.workAndProject()
        try await h.live { c async throws in
            let id = try #require(try h.ledger.jobStates().keys.first)
            let head = try #require(try h.ledger.head()?.seq)
            let past = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(head + 1)"])
            #expect(past.status == .badRequest)
            let atHead = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(head)"])
            #expect(atHead.status == .noContent)
        }
    }
}
