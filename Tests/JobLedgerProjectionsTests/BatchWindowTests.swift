import Foundation
import GRDB
import Synchronization
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// `Options.batchWindow` (and `stateBatchWindow` for the state projections): live, an event that
/// finds its projection idle is taken in at once; after a partial batch the projection waits the
/// window before its next step (so a burst is taken in together); after a full batch it goes on
/// at once. The window here is an hour, so a
/// step that waited for it would never come within the test.
@Suite struct BatchWindowTests {
    func options(batchSize: Int = 256) -> ProjectionRunner.Options {
        var o = ProjectionRunner.Options(owner: "test-runner")
        o.batchWindow = .seconds(3600)
        o.stateBatchWindow = .seconds(3600)
        o.pollInterval = .seconds(3600)
        o.batchSize = batchSize
        o.stateBatchSize = batchSize
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
        o.stateBatchWindow = .zero
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, options: o)
        let live = Task { try await runner.runLive() }
        let first = try await queuedJob(f)
        await until("the first job's row") { rows(f).contains(first) }
        let second = try await queuedJob(f)
        await until("the second job's row", within: .seconds(120)) { rows(f).contains(second) }
        live.cancel()
        _ = try? await live.value
    }

    /// The state projections have their own window: with none for the broadcast and an hour for
    /// the jobs table, a second event right behind the first is broadcast at once while its row
    /// waits for the jobs table's window.
    @Test func theStateProjectionsWaitTheirOwnWindow() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        var o = options()
        o.batchWindow = .zero
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: sink, options: o)
        let live = Task { try await runner.runLive() }
        let first = try await queuedJob(f)
        await until("the first job's row and message") { rows(f).contains(first) && sink.received.count == 1 }
        let second = try await queuedJob(f)
        await until("the second message", within: .seconds(120)) { sink.received.count == 2 }
        // A bounded look for something that must not happen: with the effects' window it happens at once.
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(10))
            #expect(!rows(f).contains(second), "the row was written before the state projections' window ended")
        }
        live.cancel()
        _ = try? await live.value
    }

    /// Live, a state projection applies up to `stateBatchSize` events a transaction, not the
    /// effects' `batchSize`; `catchUp()` keeps to `batchSize`.
    @Test func liveStateProjectionsTakeStateBatchSizeAndCatchUpTakesBatchSize() async throws {
        let f = try Fixture()
        let jobs = (0..<40).map { _ in JobID.generate() }
        _ = try await f.ledger.append(jobs.map { NewEvent(job: $0, payload: .queued(.init(kind: "design"))) })
        var o = options(batchSize: 4)
        o.stateBatchSize = 32
        let batches = BatchSizes()
        let live = ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [BatchRecorder(name: ProjectionName("batches_live"), sizes: batches)], effects: [], options: o)
        let task = Task { try await live.runLive() }
        await until("every event applied", within: .seconds(120)) { batches.total == 40 }
        task.cancel()
        _ = try? await task.value
        #expect(batches.sizes == [32, 8])
        let caught = BatchSizes()
        _ = try await ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [BatchRecorder(name: ProjectionName("batches_caught"), sizes: caught)],
                                       effects: [], options: o).catchUp()
        #expect(caught.sizes == Array(repeating: 4, count: 10))
    }
}

/// The sizes of the batches a `BatchRecorder` was given, in order.
final class BatchSizes: Sendable {
    private let recorded = Mutex<[Int]>([])
    func add(_ n: Int) { recorded.withLock { $0.append(n) } }
    var sizes: [Int] { recorded.withLock { $0 } }
    var total: Int { sizes.reduce(0, +) }
}

/// A state projection with no table that records the size of each batch it applies.
struct BatchRecorder: StateProjection {
    let name: ProjectionName
    let sizes: BatchSizes


    func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws { sizes.add(events.count) }
    func reset(_ db: Database) throws {}
}
