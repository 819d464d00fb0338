import Foundation
import GRDB
import JobLedger
@testable import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// A runner running live is handed, by its ledger's writer, each commit's events and states: its
/// projections find them in `folded` without reading them back, and what they find is what the
/// log reads back.
@Suite struct WriterFedRunTests {
    struct Recording: StateProjection {
        let name = ProjectionName("recording")
        let applied: Recorder<Int64>
        func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {
            for e in events { applied.add(e.seq) }
        }
        func reset(_ db: Database) throws {}
    }

    @Test func eventsAppendedThroughTheRunnersLedgerAreHeldAsTheLogReadsThemBack() async throws {
        let f = try Fixture()
        let applied = Recorder<Int64>()
        var o = ProjectionRunner.Options(owner: "test-runner")
        // After its first (partial) batch the projection waits an hour: it reads nothing more.
        o.pollInterval = .seconds(3600)
        o.stateBatchWindow = .seconds(3600)
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [Recording(applied: applied)], effects: [], options: o)
        // Before the run: the writer hands on nothing.
        _ = try await f.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design"))))
        #expect(runner.folded.events(after: 0, through: .max, limit: 10) == nil)
        let live = Task { try await runner.runLive() }
        await until("the projection applied its first batch") { applied.all == [1] }
        let job = JobID.generate()
        _ = try await f.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", input: ["n": 5.0, "f": 0.5]))))
        _ = try await f.ledger.append([NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 9_999_999_999_999)))),
                                       NewEvent(job: job, payload: .progress(.init(fraction: 0.5, message: "half", attempt: 1)))])
        // Held as soon as the appends returned, while the projection waits out its window.
        let held = try #require(runner.folded.events(after: 1, through: .max, limit: 10))
        let read = try await f.ledger.pool.read { db in try Ledger.projectedEvents(db, after: 1, through: .max, limit: 10) }
        #expect(held == read)
        #expect(held.first?.payload == .queued(.init(kind: "design", input: ["n": 5, "f": 0.5])), "5.0 as the log gives it back")
        #expect(runner.folded.state(after: 4)?.progress == 0.5)
        #expect(applied.all == [1])
        live.cancel()
        _ = try? await live.value
        // After the run: the writer hands on nothing more.
        _ = try await f.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design"))))
        #expect(runner.folded.state(after: 5) == nil)
    }
}
