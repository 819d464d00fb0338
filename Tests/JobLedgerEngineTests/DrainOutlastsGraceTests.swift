import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization
import Testing

/// `work()` returned `Options.cancelGrace` (5 s) after a shutdown began, whatever its drain time:
/// `jobledger work --drain 20` and `serve` (10 s by default) exited at 5 s in the middle of the
/// drain, their jobs left running until the leases passed, with a false "did not end within 5 s
/// of being cancelled" (nothing had been cancelled). It now returns once the shutdown has.
@Suite struct DrainOutlastsGraceTests {
    @Test func workReturnsOnlyOnceTheShutdownHasDrained() async throws {
        let f = try Fixture()
        var o = JobEngine.Options(workerID: "w")
        o.cancelGrace = .milliseconds(1)
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        let gate = Gate(), started = Gate()
        let finished = Mutex(false)
        engine.register(kind: "k") { ctx in
            started.release()
            while !gate.isOpen {
                if ctx.isCancelled { throw CancellationError() }
                await Task.yield()
            }
            finished.withLock { $0 = true }
            return JobCompletion()
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.work(pollInterval: .milliseconds(5)) }
        await until("the handler to start") { started.isOpen }
        let stopping = Task { await engine.shutdown(drain: .seconds(60)) }
        await until("shutdown to begin") { engine.isDraining }
        // Past the 1 ms grace many times over, well within the drain: work() must still be waiting.
        let returned = Mutex(false)
        let watcher = Task { _ = try? await work.value; returned.withLock { $0 = true } }
        let watch = ContinuousClock.now.advanced(by: .milliseconds(300))
        while ContinuousClock.now < watch && !returned.withLock({ $0 }) { await Task.yield() }
        #expect(!returned.withLock { $0 }, "work() returned in the middle of the drain")
        gate.release()
        await stopping.value
        await watcher.value
        #expect(finished.withLock { $0 })
        #expect(try engine.jobs(status: .completed).map(\.id) == [job])
    }
}
