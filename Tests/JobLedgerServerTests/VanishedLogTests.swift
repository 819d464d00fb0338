import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// A log file moved or deleted while `serve` has it open: SQLite goes on committing into the open
/// file, which no one can open again (Operations.md). The engine's own writes look for the file
/// first and pause; the engine's submits (and cancels and retries) did not, so a submit was
/// answered 202 and its job written where it would be lost. It is a 503 now, and writes nothing.
@Suite struct VanishedLogTests {
    @Test func aSubmitIs503WhileTheFileIsGone() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        let design = #"{"input":{"prompt":"p"}}"#
        try await h.live { c async throws in
            _ = try await c.submitDesign(alice)
            let moved = h.dir.appendingPathComponent("moved.sqlite").path
            try FileManager.default.moveItem(atPath: h.ledger.path, toPath: moved)
            let submit = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(design))
            #expect(submit.status == .serviceUnavailable, "\(submit.body.text)")
            #expect(submit.headers[.retryAfter] != nil)
            // Back at its path, the file holds only the first job's event, and the same request
            // goes through.
            try FileManager.default.moveItem(atPath: moved, toPath: h.ledger.path)
            #expect(try h.ledger.eventCount() == 1)
            #expect(try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(design)).status == .accepted)
            #expect(try h.ledger.eventCount() == 2)
        }
    }
}
