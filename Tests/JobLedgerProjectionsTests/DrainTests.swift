import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// `drain` is what `work --until-idle` and `demo` run before they exit: it waits out backoffs
/// and delivers what is left, within a bound, and says what is still owed.
@Suite struct DrainTests {
    func runner(_ f: Fixture, sink: any BroadcastSink) -> ProjectionRunner {
        var o = ProjectionRunner.Options(owner: "drain-test")
        o.randomSeed = 3
        o.retry = RetryPolicy(baseMilliseconds: 20, capMilliseconds: 40)
        o.coalesceProgress = false
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        // The wall clock: drain waits for real backoffs.
        return ProjectionRunner(ledger: f.ledger, clock: SystemClock(), broadcasts: sink, options: o)
    }

    @Test func aSinkFailingItsFirstCallsIsWaitedOutAndEverythingArrives() async throws {
        let f = try Fixture()
        let sink = ScriptedSink([.unavailable("503"), .unavailable("503"), .unavailable("429", retryAfterMilliseconds: 50)])
        try await f.appendHappyJob(progressTicks: 1)
        let left = try await runner(f, sink: sink).drain(for: .seconds(60))
        #expect(left.isEmpty, "\(left)")
        #expect(sink.received.map(\.message.type) == [.queued, .started, .progress, .lowres, .completed])
        #expect(sink.calls == 4)
    }

    @Test func aSinkStillDownAtTheBoundIsReportedWithItsNextTry() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        sink.down.withLock { $0 = .unavailable("down for maintenance", retryAfterMilliseconds: 120_000) }
        try await f.appendHappyJob(progressTicks: 1)
        let left = try await runner(f, sink: sink).drain(for: .milliseconds(300))
        let broadcast = try #require(left.first { $0.name == .broadcast })
        #expect(broadcast.pending == 5 && broadcast.dead == 0)
        #expect(broadcast.nextAttemptAt != nil)
        #expect(broadcast.lastError?.contains("down for maintenance") == true)
        #expect(sink.received.isEmpty)
    }
}
