import Foundation
import JobLedger
@testable import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A new engine folding a log of jobs another worker ran: a job that ended for good there
/// (completed, canceled) leaves nothing to read, so a start on a long log of finished jobs does
/// not read each job's state back; a failed one may still be retried and is read.
@Suite struct EngineViewStartTests {
    @Test func jobsFinishedElsewhereAreNotReadAgainButAFailedOneIs() async throws {
        let f = try Fixture()
        let other = f.engine("other", concurrency: 8)
        other.register(kind: "ok") { _ in JobCompletion() }
        other.register(kind: "bad") { _ in throw JobError(code: "no", message: "", retryable: false) }
        other.register(kind: "slow") { ctx in
            try await ctx.progress(0.5)
            try await other.cancel(ctx.job, reason: "enough")
            try await ctx.progress(0.6)  // the cancel is noticed: the handler stops
            return JobCompletion()
        }
        var done: [JobID] = []
        for _ in 0..<5 { done.append(try await other.submit(kind: "ok")) }
        let failed = try await other.submit(kind: "bad")
        let canceled = try await other.submit(kind: "slow")
        try await other.tick()
        #expect(try other.result(of: failed)?.status == .failed)
        #expect(try other.result(of: canceled)?.status == .canceled)
        // A new view folds the whole log, as a new engine does before its first claim.
        var view = EngineView()
        view.fold(read: try await f.ledger.enginePage(from: 1, limit: 10_000), now: f.clock.now())
        #expect(view.unresolved == [failed])
        #expect(view.count == 0)
    }
}
