import Foundation
import JobLedger
@testable import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// An engine that only submits (an API node, `serve --workers 0`) keeps nothing of what it
/// submits: its view follows the log only while a work loop runs, and the loop reads what was
/// submitted before it from the log.
@Suite struct SubmitOnlyEngineTests {
    @Test func anEngineThatOnlySubmitsHoldsNothingAndItsLoopFindsEverything() async throws {
        let f = try Fixture()
        let api = f.engine("api")
        api.register(kind: "k") { _ in JobCompletion() }
        // Another process's worker, on the same log: its events leave gaps between this
        // engine's own (which, followed, would wait whole for the gaps to be read).
        let other = try Ledger.open(path: f.ledger.path)
        var mine: [JobID] = []
        for i in 0..<50 {
            mine.append(try await api.submit(kind: "k", input: ["i": .int(Int64(i))]))
            _ = try await other.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "elsewhere"))))
        }
        let held = api.state.withLock { ($0.view.count, $0.view.lastSeq, $0.view.readLimit) }
        #expect(held.0 == 0, "queued jobs held by an engine that runs none: \(held.0)")
        #expect(held.1 == 0 && held.2 == nil, "events folded or held for a gap: \(held)")

        try await api.workUntilIdle()
        for job in mine { #expect(try api.result(of: job)?.status == .completed) }
        #expect(api.state.withLock { $0.following } == 0)
        // Outside the loop again: a submit is not folded; the next loop finds it.
        let before = api.state.withLock { ($0.view.count, $0.view.lastSeq) }
        let late = try await api.submit(kind: "k")
        let after = api.state.withLock { ($0.view.count, $0.view.lastSeq) }
        #expect(after == before, "the late submit was folded outside a loop")
        try await api.workUntilIdle()
        #expect(try api.result(of: late)?.status == .completed)
    }
}
