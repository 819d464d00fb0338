import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Jobs of equal priority submitted in one millisecond are claimed in the order they were
/// submitted: the claim order is priority, then age (the millisecond), then id, and the ids of
/// one process increase (`JobID.generate`). Random bits after the millisecond used to decide.
@Suite struct ClaimFIFOTests {
    @Test func jobsSubmittedInOneMillisecondAreClaimedInSubmissionOrder() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 4)
        engine.register(kind: "k") { _ in JobCompletion() }
        // The ManualClock does not move: all 1,000 are queued in the same millisecond.
        var submitted: [JobID] = []
        for _ in 0..<1_000 { submitted.append(try await engine.submit(kind: "k", priority: 5)) }
        try await engine.workUntilIdle()
        // The claims, in the order the log took them.
        var claimed: [JobID] = []
        try f.ledger.forEachEvent { e in if e.type == .started { claimed.append(e.job) } }
        #expect(claimed.count == submitted.count)
        // The first claim out of submission order, if any (a compact failure, not 2,000 ids).
        let firstOutOfOrder = zip(claimed, submitted).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstOutOfOrder == nil, "claim #\(firstOutOfOrder?.offset ?? 0) took \(firstOutOfOrder?.element.0.rawValue ?? ""), submitted #\(submitted.firstIndex(of: firstOutOfOrder?.element.0 ?? submitted[0]) ?? -1)")
    }
}
