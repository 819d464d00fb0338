import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// An import does not keep the state of a job that completed or was canceled (an export of a
/// long history is mostly such jobs): a line that names one again is checked against the log
/// and refused all the same, naming the line; a failed job, which may be requeued, is kept.
@Suite struct ImportFinishedJobsTests {
    func line(_ job: String, _ type: String, _ payload: String, second: Int) -> String {
        #"{"job_id":"\#(job)","type":"\#(type)","recorded_at":"2026-11-29T00:00:\#(String(format: "%02d", second))Z","payload":\#(payload)}"#
    }
    func queued(_ job: String, _ s: Int) -> String { line(job, "queued", #"{"kind":"design"}"#, second: s) }
    func started(_ job: String, _ s: Int, attempt: Int = 1) -> String {
        line(job, "started", #"{"worker":"w","attempt":\#(attempt),"lease_deadline":"2026-11-29T00:01:00Z"}"#, second: s)
    }

    @Test(arguments: [
        ("completed", #"{"attempt":1}"#, "progress", #"{"attempt":1,"fraction":0.5}"#),
        ("canceled", #"{"reason":"no"}"#, "queued", #"{"kind":"design"}"#),
    ])
    func aLineAfterAJobEndedIsRefused(end: String, endPayload: String, next: String, nextPayload: String) async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let lines = [queued("a", 0), started("a", 1), line("a", end, endPayload, second: 2), queued("b", 3),
                     line("a", next, nextPayload, second: 4)]
        let error = await expectLedgerError { _ = try ledger.importNDJSON(lines) }
        guard case .importFailed(5, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains(end), "\(reason)")
        #expect(try ledger.eventCount() == 0)
    }

    @Test func aFailedJobIsRequeuedInTheSameImport() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let lines = [queued("a", 0), started("a", 1), line("a", "completed", #"{"attempt":1}"#, second: 2),
                     line("c", "queued", #"{"kind":"design","max_attempts":1}"#, second: 3), started("c", 4),
                     line("c", "failed", #"{"code":"oom","message":"","retryable":false,"attempt":1}"#, second: 5),
                     queued("c", 6), started("c", 7, attempt: 2)]
        let report = try ledger.importNDJSON(lines)
        #expect(report.events == 8 && report.jobs == 2)
        #expect(try await ledger.state(of: try JobID("c"))?.status == .running)
        #expect(try await ledger.state(of: try JobID("a"))?.status == .completed)
        #expect(try ledger.verify().isValid)
    }
}
