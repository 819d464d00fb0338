import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// An engine whose ledger is closed under it (`defer { try? ledger.close() }` with a worker task
/// still running). Submitting crashed the process (SQLite's calls on the closed connection's nil
/// handle), and `work()` took the closed connection for a deleted `-wal` and waited for ever.
@Suite(.timeLimit(.minutes(2)))
struct ClosedLedgerEngineTests {
    @Test func submitAndWorkOnAClosedLedgerThrowClosed() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion() }
        _ = try await engine.submit(kind: "k")
        try f.ledger.close()
        let submit = await #expect(throws: LedgerError.self) { _ = try await engine.submit(kind: "k") }
        #expect(submit.map { if case .closed = $0 { true } else { false } } == true, "\(String(describing: submit))")
        let work = await #expect(throws: LedgerError.self) { try await engine.work(pollInterval: .milliseconds(5)) }
        #expect(work.map { if case .closed = $0 { true } else { false } } == true, "\(String(describing: work))")
    }

    @Test func closingTheLedgerUnderAWorkingEngineEndsItsWork() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let ran = Gate()
        engine.register(kind: "k") { _ in ran.release(); return JobCompletion() }
        _ = try await engine.submit(kind: "k")
        let work = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("a job to run") { ran.isOpen }
        try f.ledger.close()
        let thrown = await #expect(throws: LedgerError.self) { try await work.value }
        #expect(thrown.map { if case .closed = $0 { true } else { false } } == true, "\(String(describing: thrown))")
    }
}
