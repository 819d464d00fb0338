import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization
import Testing

final class Gate: Sendable {
    private let open = Mutex(false)
    func release() { open.withLock { $0 = true } }
    var isOpen: Bool { open.withLock { $0 } }
}

@Suite struct ShutdownTests {
    @Test func shutdownLetsARunningHandlerFinishWithinTheDrainTime() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let gate = Gate()
        let started = Recorder<JobID>()
        engine.register(kind: "k") { ctx in
            started.add(ctx.job)
            await until("the gate to open") { gate.isOpen }
            return JobCompletion(output: ["finished": true])
        }
        let job = try await engine.submit(kind: "k")
        let later = try await engine.submit(kind: "k", runAt: f.clock.now().adding(milliseconds: 1))
        let work = Task { try await engine.tick() }
        await until { !started.all.isEmpty }
        let stopping = Task { await engine.shutdown(drain: .seconds(60)) }
        gate.release()
        await stopping.value
        _ = try await work.value
        #expect(try engine.result(of: job)?.status == .completed)
        f.clock.advance(milliseconds: 10)
        #expect(try await engine.tick() == 0)  // a draining engine claims nothing more
        #expect(try engine.state(of: later)?.status == .queued)
    }

    @Test func shutdownCancelsWhatOutlivesTheDrainAndRecordsItForRetry() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Recorder<JobID>()
        engine.register(kind: "k") { ctx in
            started.add(ctx.job)
            await until("the handler's cancellation") { ctx.isCancelled }
            throw CancellationError()
        }
        let job = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until { !started.all.isEmpty }
        await engine.shutdown(drain: .zero)
        _ = try await work.value
        let s = try #require(try engine.state(of: job))
        #expect(s.status == .queued)
        #expect(s.lastError?.code == "worker_shutdown")
        #expect(try f.types(job) == [.queued, .started, .failed])
    }
}
