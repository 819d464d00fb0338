import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerEngine
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// `GET /api/jobs/{id}/stream`: SSE from the hub, resumable with `Last-Event-ID`.
@Suite struct StreamTests {
    static let design = #"{"input":{"prompt":"a red bicycle"}}"#

    @Test func aLateStreamStartsWithEveryMessageAndResumesAfterAnyOfThem() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let auth = try await h.auth()
        let id = try await h.live { c async throws in
            try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design)).body.json!["id"]!.stringValue!
        }
        try await h.workAndProject()
        let sent = try h.ledger.outboxItems(.broadcast, job: JobID(id)).filter { $0.status != .coalesced }.map(\.seq)
        try await h.live { c async throws in
            let all = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth)
            #expect(all.headers[.contentType] == "text/event-stream")
            let ids = Self.ids(all.body.text)
            #expect(ids == sent)
            let last = try #require(Self.data(all.body.text).last.flatMap { try? JSONValue(parsing: $0) })
            #expect(last["state"] == "completed")
            #expect(last["result_url"]?.stringValue?.hasPrefix("/blobs/") == true)
            for k in 0..<ids.count - 1 {
                let rest = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(ids[k])"])
                #expect(Self.ids(rest.body.text) == Array(ids[(k + 1)...]))
            }
            // Already has the last word: 204, so an EventSource stops reconnecting.
            let done = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(ids.last!)"])
            #expect(done.status == .noContent)
            let bad = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "soon"])
            #expect(bad.status == .badRequest)
            // An empty Last-Event-ID is no event seen yet: the whole stream.
            let empty = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: ""])
            #expect(empty.status == .ok && Self.ids(empty.body.text) == sent)
        }
    }

    @Test func aDroppedConnectionResumesWithNothingLostOrRepeated() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let gate = Gate()
        h.engine.register(kind: "gated") { ctx in
            for step in 1...3 {
                await gate.pass()
                try await ctx.progress(Double(step) / 4, message: "step \(step)")
            }
            return JobCompletion(output: ["ok": true])
        }
        let token = try await h.token()
        let auth = try await h.auth()
        try await h.live { c async throws in
            let port = try #require(c.port)
            let id = try await c.api(.post, "/api/jobs/gated", "/api/jobs/{kind}", headers: auth, body: body(#"{"input":{}}"#)).body.json!["id"]!.stringValue!
            let live = Task { try await h.runner.runLive() }
            let work = Task { try await h.engine.workUntilIdle() }
            defer { live.cancel(); work.cancel() }
            // A browser's EventSource: the token in the query, no headers.
            let a = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/jobs/\(id)/stream?access_token=\(token)")!)
            var firstPart = await a.next(1)                 // queued (and maybe started)
            gate.open()
            while !firstPart.contains(where: { $0.data.contains("\"step 1\"") }) { firstPart += await a.next(1) }
            a.drop()
            gate.open(); gate.open()
            _ = try await h.engine.wait(for: JobID(id))
            let lastSeen = firstPart.last!.id
            let b = SSEReader(url: URL(string: "http://127.0.0.1:\(port)/api/jobs/\(id)/stream?access_token=\(token)")!,
                              headers: ["Last-Event-ID": "\(lastSeen)"])
            var rest: [SSEReader.Event] = []
            for await e in b.events { rest.append(e) }     // ends after the terminal message
            #expect(b.status == 200)
            let ids = (firstPart + rest).map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "\(ids)")
            #expect(rest.first.map { $0.id > lastSeen } ?? false)
            #expect(rest.last?.data.contains("\"completed\"") == true)
            let outbox = try h.ledger.outboxItems(.broadcast, after: lastSeen, job: JobID(id)).filter { $0.status != .coalesced }.map(\.seq)
            #expect(rest.map(\.id) == outbox)
        }
    }

    @Test func aStreamOfAJobThatDoesNotMoveEndsAfterTheBoundAndResumes() async throws {
        var h = try await ServerHarness.make(); defer { h.cleanup() }
        h.server.maxStreamDuration = .milliseconds(300)
        let auth = try await h.auth()
        let harness = h
        try await harness.live { c async throws in
            // No worker runs: the job stays queued.
            let id = try await c.api(.post, "/api/design", "/api/design", headers: auth, body: body(Self.design)).body.json!["id"]!.stringValue!
            _ = try await harness.runner.catchUp()
            let first = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth)
            #expect(first.status == .ok)
            let ids = Self.ids(first.body.text)
            #expect(ids.count == 1)
            // The reconnect with Last-Event-ID gets nothing new, and ends again at the bound.
            let again = try await c.api(.get, "/api/jobs/\(id)/stream", "/api/jobs/{id}/stream", headers: auth + [HTTPField.Name("Last-Event-ID")!: "\(ids[0])"])
            #expect(again.status == .ok && Self.ids(again.body.text).isEmpty)
        }
    }

    static func ids(_ text: String) -> [Int64] {
        text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int64($0.dropFirst(4)) }
    }

    static func data(_ text: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
    }
}
