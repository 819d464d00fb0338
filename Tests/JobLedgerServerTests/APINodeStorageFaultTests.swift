import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A node whose engine runs no workers (`serve --workers 0`) when the disk fills: no engine loop
/// meets the fault, so every submit was a 503 while `/readyz` said ready and nothing was
/// logged. The server's own requests now pause its readiness: `/readyz` names the fault's kind,
/// the fault is logged once with the log's path, and the node is ready again when a write
/// succeeds — a request's, or the one `/readyz` tries when the next try is due on the server's
/// clock. The full disk is the log's `max_page_count` held at its size, as the engine's and the
/// projections' storage-fault tests make it.
@Suite struct APINodeStorageFaultTests {
    /// A submit whose `queued` event needs new pages: about 40 KB of input.
    static let bigJob = body(#"{"input":{"blob":""# + String(repeating: "x", count: 40_000) + #""}}"#)

    static func faultLines(_ log: LogCapture) -> [String] { log.lines.filter { $0.contains("storage fault") } }

    @Test func aFullDiskMakesTheNodeUnreadyLogsItOnceAndRecoveryMakesItReadyAgain() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        let log = LogCapture()
        try await h.live(logger: log.logger) { c async throws in
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .ok)
            try await h.ledger.setMaxPageCount(try await h.ledger.pageCount())
            let events = try h.ledger.eventCount()
            for _ in 0..<3 {
                let r = try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: alice, body: Self.bigJob)
                #expect(r.status == .serviceUnavailable && r.headers[.retryAfter] == "5", "\(r.status) \(r.body.text.prefix(200))")
                // The kind of fault, not the log's path on the server.
                #expect(r.body.text.contains("(full:") && !r.body.text.contains(h.dir.path), "\(r.body.text)")
            }
            #expect(try h.ledger.eventCount() == events, "a refused submit writes nothing")
            // Not ready, with the fault's kind; said once in the server's log, with the path.
            let paused = try await c.api(.get, "/readyz", "/readyz")
            #expect(paused.status == .serviceUnavailable)
            #expect(paused.body.json?["status"] == "paused" && paused.body.json?["storage_fault"] == "full", "\(paused.body.text)")
            let said = Self.faultLines(log)
            #expect(said.count == 1 && said.first?.hasPrefix("error ") == true && said.first?.contains(h.ledger.path) == true, "\(said)")

            // The disk has room again. Before the next try is due nothing is tried…
            try await h.ledger.setMaxPageCount(nil)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .serviceUnavailable)
            // …then /readyz tries a write, and it goes through: ready, with nothing written to the log.
            h.clock.advance(ms: 250)
            let ready = try await c.api(.get, "/readyz", "/readyz")
            #expect(ready.status == .ok && ready.body.json?["status"] == "ready", "\(ready.body.text)")
            #expect(try h.ledger.eventCount() == events)
            #expect(try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: alice, body: Self.bigJob).status == .accepted)
            // Once writes have gone on for a while, one line says the fault cleared.
            h.clock.advance(ms: 60_000)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .ok)
            let cleared = Self.faultLines(log).filter { $0.contains("cleared") }
            #expect(cleared.count == 1 && Self.faultLines(log).count == 2, "\(Self.faultLines(log))")
        }
    }

    @Test func aSubmitThatGoesThroughMakesTheNodeReadyAtOnce() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            try await h.ledger.setMaxPageCount(try await h.ledger.pageCount())
            #expect(try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: alice, body: Self.bigJob).status == .serviceUnavailable)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .serviceUnavailable)
            try await h.ledger.setMaxPageCount(nil)
            // No time passes: the submit is the write that tells.
            #expect(try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: alice, body: Self.bigJob).status == .accepted)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .ok)
        }
    }

    /// A keyed submit sent again during the fault finds its first job and writes nothing (so it
    /// succeeds on a full disk): that says nothing of the disk, and the node stays unready.
    @Test func aRepeatedKeyedSubmitDoesNotMakeTheNodeReady() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        var headers = try await h.auth("user_alice")
        headers[.init("Idempotency-Key")!] = "order-1"
        let keyed = headers
        let small = body(#"{"input":{"prompt":"p"}}"#)
        try await h.live { c async throws in
            let first = try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: keyed, body: small)
            #expect(first.status == .accepted)
            try await h.ledger.setMaxPageCount(try await h.ledger.pageCount())
            #expect(try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: try await h.auth("user_alice"), body: Self.bigJob).status == .serviceUnavailable)
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .serviceUnavailable)
            let again = try await c.api(.post, "/api/jobs/echo", "/api/jobs/{kind}", headers: keyed, body: small)
            #expect(again.status == .accepted && again.body.json?["id"] == first.body.json?["id"], "\(again.status) \(again.body.text.prefix(200))")
            #expect(try await c.api(.get, "/readyz", "/readyz").status == .serviceUnavailable, "ready after a submit that wrote nothing")
        }
    }

    @Test func aWriteProbeOfAFullLogFailsAndLeavesNothing() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        try await h.ledger.setMaxPageCount(try await h.ledger.pageCount())
        await #expect(throws: LedgerError.self) { try await h.ledger.probeWrite() }
        try await h.ledger.setMaxPageCount(nil)
        try await h.ledger.probeWrite()
        #expect(try h.ledger.assetTotals().count == 0)
        #expect(try h.ledger.eventCount() == 0)
    }
}
