import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// `Options.batchWindow`: live, an event that finds its projection idle is taken in at once;
/// after a partial batch the projection waits the window before its next step (so a burst is
/// taken in together); after a full batch it goes on at once. The window here is an hour, so a
/// step that waited for it would never come within the test.
@Suite struct BatchWindowTests {
    func options(batchSize: Int = 256) -> ProjectionRunner.Options {
        var o = ProjectionRunner.Options(owner: "test-runner")
        o.batchWindow = .seconds(3600)
        o.pollInterval = .seconds(3600)
        o.batchSize = batchSize
        o.coalesceProgress = false
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return o
    }

    func queuedJob(_ f: Fixture) async throws -> JobID {
        let job = JobID.generate()
        _ = try await f.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design"))))
        return job
    }

    func rows(_ f: Fixture) -> Set<JobID> { Set(((try? f.ledger.storedJobRows()) ?? []).map(\.id)) }

    @Test func anIdleProjectionTakesAnEventInAtOnceAndOneRightBehindItWaitsForTheWindow() async throws {
        let f = try Fixture()
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, options: options())
        let live = Task { try await runner.runLive() }
        let first = try await queuedJob(f)
        await until("the first job's row") { rows(f).contains(first) }
        let second = try await queuedJob(f)
        // A bounded look for something that must not happen: with no window it happens at once.
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(10))
            #expect(!rows(f).contains(second), "taken in before the window ended")
        }
        live.cancel()
        _ = try? await live.value
        _ = try await runner.catchUp()
        #expect(rows(f) == [first, second])
    }

    @Test func theBroadcastWaitsForTheWindowToo() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: sink, options: options())
        let live = Task { try await runner.runLive() }
        _ = try await queuedJob(f)
        await until("the first message") { sink.received.count == 1 }
        _ = try await queuedJob(f)
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(10))
            #expect(sink.received.count == 1, "broadcast before the window ended")
        }
        live.cancel()
        _ = try? await live.value
        _ = try await runner.catchUp()
        #expect(sink.received.map(\.message.seq) == [1, 2])
    }

    /// Five events, batches of two: two full batches go on at once, the partial third follows
    /// them without waiting (it was already there); only after it would the window start.
    @Test func aFullBatchGoesOnAtOnce() async throws {
        let f = try Fixture()
        let jobs = (0..<5).map { _ in JobID.generate() }
        _ = try await f.ledger.append(jobs.map { NewEvent(job: $0, payload: .queued(.init(kind: "design"))) })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, options: options(batchSize: 2))
        let live = Task { try await runner.runLive() }
        await until("all five rows", within: .seconds(120)) { rows(f) == Set(jobs) }
        live.cancel()
        _ = try? await live.value
    }

    /// With no window the live loop steps again at once, as before the window existed.
    @Test func aZeroWindowStepsAgainAtOnce() async throws {
        let f = try Fixture()
        var o = options()
        o.batchWindow = .zero
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, options: o)
        let live = Task { try await runner.runLive() }
        let first = try await queuedJob(f)
        await until("the first job's row") { rows(f).contains(first) }
        let second = try await queuedJob(f)
        await until("the second job's row", within: .seconds(120)) { rows(f).contains(second) }
        live.cancel()
        _ = try? await live.value
    }
}
