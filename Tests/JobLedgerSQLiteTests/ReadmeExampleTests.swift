import Foundation
import JobLedger
import JobLedgerSQLite
import Testing

/// The README's embedding example, kept compiling and true.
@Test func readmeEmbeddingExample() async throws {
    let dir = TempDir()
    let ledger = try Ledger.open(path: dir.path("jobs.sqlite"))
    let job = JobID.generate()
    _ = try await ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", input: ["prompt": "a cat"]))))
    _ = try await ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w1", attempt: 1, leaseDeadline: .now.adding(milliseconds: 30_000)))))
    let state = try await ledger.state(of: job)
    #expect(state?.status == .running)
    #expect(state?.attempt == 1)
    #expect(state?.input == .object(["prompt": .string("a cat")]))
}
