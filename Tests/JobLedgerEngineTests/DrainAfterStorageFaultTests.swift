import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import Testing

/// A shutdown that begins once a storage fault has cleared writes the outcomes that waited it
/// out. The drain used to leave them on the backoff's schedule (the next try up to 30 s away),
/// and past the drain time they were given up: the job stayed `running` until its lease ran
/// out, then ran again (an outside audit met it on a full tmpfs freed before a SIGTERM).
@Suite struct DrainAfterStorageFaultTests {
    @Test func anOutcomeHeldByAClearedFaultIsWrittenDuringTheDrain() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("jobs.sqlite"))
        var o = JobEngine.Options(workerID: "w")
        o.logger.logLevel = .critical
        // A backoff far longer than the drain: only a try made because of the drain can write.
        o.storageFaults = StorageFaultPolicy(firstRetry: .seconds(600), maxRetry: .seconds(600))
        let engine = JobEngine(ledger: ledger, options: o)
        let finish = Gate(), started = Gate()
        engine.register(kind: "render") { _ in
            started.release()
            await until("the test to let the handler finish") { finish.isOpen }
            // 64 KB: more pages than a full log has room for.
            return JobCompletion(bytes: Data(repeating: 2, count: 65_536), contentType: "image/png")
        }
        let job = try await engine.submit(kind: "render")
        let worker = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("the handler to start") { started.isOpen }
        try await ledger.setMaxPageCount(try await ledger.pageCount())
        finish.release()
        await until("the outcome to meet the full log") { engine.storageFault != nil }
        try await ledger.setMaxPageCount(nil)  // room again, long before the backoff's next try
        await engine.shutdown(drain: .seconds(60))
        worker.cancel()
        _ = try? await worker.value
        #expect(try await ledger.state(of: job)?.status == .completed)
    }
}
