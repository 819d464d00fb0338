import GRDB
import JobLedger
import JobLedgerEngine
@testable import JobLedgerSQLite
import Testing

/// A log left at an older schema (`migrate: false`, so that the jobledger that wrote it can still
/// read it) gets no field that jobledger would refuse: a shutdown is recorded without
/// `refunds_attempt`, and counts as an attempt.
@Suite struct OlderSchemaShutdownTests {
    @Test func aShutdownOnAV7LogIsRecordedWithoutTheRefund() async throws {
        let f = try Fixture()
        let path = f.dir.path("v7.sqlite")
        let q = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(q, upTo: "v7: projection errors")
        try q.close()
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        let v7 = try Ledger.open(path: path, configuration: c, create: false, migrate: false)
        #expect(v7.schemaVersion == 7 && !v7.recordsAttemptRefunds)
        #expect(f.ledger.recordsAttemptRefunds)

        let job = try await jobInterruptedByShutdown(f.engine(ledger: v7), maxAttempts: 1)

        var failed: [String] = []
        try v7.forEachRawEvent { if $0.type == "failed" { failed.append($0.payload) } }
        #expect(failed.count == 1)
        #expect(failed.allSatisfy { $0.contains("worker_shutdown") && !$0.contains("refunds_attempt") })
        // Its only attempt used up: failed, as the jobledger that wrote the log would have it.
        #expect(try await v7.state(of: job)?.status == .failed)
    }
}
