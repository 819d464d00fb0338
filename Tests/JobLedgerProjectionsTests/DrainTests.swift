import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// `drain` is what `work --until-idle` and `demo` run before they exit: it waits out backoffs
/// and delivers what is left, within a bound, and says what is still owed.
@Suite struct DrainTests {
    func runner(_ f: Fixture, sink: any BroadcastSink, owner: String = "drain-test") -> ProjectionRunner {
        var o = ProjectionRunner.Options(owner: owner)
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

    /// A worker beside this one holds the projection's lease with items it has not delivered
    /// yet: they are its to deliver, so this run neither waits for them nor reports them as
    /// owed (`work --until-idle` exited 7, "finish with project --once", which another process
    /// owning the projections refuses).
    @Test func whatAnotherProcessOwnsIsNeitherWaitedForNorReportedAsOwed() async throws {
        let f = try Fixture()
        let down = ScriptedSink()
        down.down.withLock { $0 = .unavailable("down for maintenance", retryAfterMilliseconds: 120_000) }
        try await f.appendHappyJob(progressTicks: 1)
        let other = runner(f, sink: down, owner: "other-worker")
        try await other.catchUp()
        #expect(try f.ledger.projectionStatus([.broadcast]).first { $0.name == .broadcast }?.pending == 5)
        let left = try await runner(f, sink: ScriptedSink()).drain(for: .seconds(120))
        #expect(left.isEmpty, "\(left)")
    }

    /// A sink that does not answer (a service that hangs, its client's timeout long): the drain
    /// stops at its bound and reports the items as pending. It looked at the time only between
    /// deliveries, so it waited for the sink, try after try: `demo` against a hanging AnyCable
    /// ran 90 s past a drain of 10 s.
    @Test(.timeLimit(.minutes(1)))
    func aDeliveryThatDoesNotAnswerIsNotWaitedForPastTheBound() async throws {
        final class Hanging: BroadcastSink {
            let release = Mutex(false)
            func deliver(_ publications: [Publication]) async throws(SinkError) {
                // Ignores cancellation, as a request that cannot be cancelled does.
                while !release.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
                throw .unavailable("released by the test")
            }
        }
        let f = try Fixture()
        let sink = Hanging()
        defer { sink.release.withLock { $0 = true } }
        try await f.appendHappyJob(progressTicks: 1)
        let left = try await runner(f, sink: sink).drain(for: .milliseconds(300))
        let broadcast = try #require(left.first { $0.name == .broadcast }, "\(left)")
        #expect(broadcast.pending > 0 || broadcast.lag > 0, "\(broadcast)")
    }

    /// At the bound, a delivery that honours cancellation is cancelled and records its failure
    /// before `drain` returns: left running, it renewed the projection's lease after `release()`
    /// and delivered its items once more when it ended.
    @Test(.timeLimit(.minutes(1)))
    func aDeliveryInFlightAtTheBoundIsCancelledBeforeDrainReturns() async throws {
        final class WaitsForCancel: BroadcastSink {
            let cancelled = Mutex(false)
            func deliver(_ publications: [Publication]) async throws(SinkError) {
                do { try await Task.sleep(for: .seconds(3_600)) } catch {
                    cancelled.withLock { $0 = true }
                    throw .unavailable("cancelled")
                }
            }
        }
        let f = try Fixture()
        let sink = WaitsForCancel()
        try await f.appendHappyJob(progressTicks: 1)
        let runner = runner(f, sink: sink)
        let left = try await runner.drain(for: .milliseconds(300))
        #expect(sink.cancelled.withLock { $0 }, "the delivery was cancelled before drain returned")
        #expect(left.first { $0.name == .broadcast }.map { $0.pending > 0 } == true, "\(left)")
        await runner.release()
        #expect(try f.ledger.projectionOwner(.broadcast) == nil)
    }

    /// A sink that ignores its cancellation (a client call that cannot be cancelled, hung): the
    /// live runner's stop waited for it for good (`runLive()` never returned after its task was
    /// cancelled, holding a service group's shutdown), and the lease renewal beside the call
    /// took the projection back after `release()`, so no other process could take it over.
    /// Now the stop returns after the grace and a second more, the items pending, and
    /// `release()` leaves the projection released.
    @Test(.timeLimit(.minutes(1)))
    func aSinkThatIgnoresCancellationHoldsNeitherTheStopNorTheLease() async throws {
        final class Deaf: BroadcastSink {
            let release = Mutex(false), called = Mutex(false)
            func deliver(_ publications: [Publication]) async throws(SinkError) {
                called.withLock { $0 = true }
                while !release.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
                throw .unavailable("released by the test")
            }
        }
        let f = try Fixture()
        let sink = Deaf()
        defer { sink.release.withLock { $0 = true } }
        try await f.appendHappyJob(progressTicks: 1)
        var o = ProjectionRunner.Options(owner: "deaf-test")
        o.leaseMilliseconds = 600
        o.renewInterval = .milliseconds(50)
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: SystemClock(), broadcasts: sink, options: o)
        let live = Task { try await runner.runLive() }
        await until("the sink to be called") { sink.called.withLock { $0 } }
        let stopped = ContinuousClock.now
        live.cancel()
        _ = try? await live.value
        #expect(ContinuousClock.now - stopped < .seconds(10), "runLive returned \(ContinuousClock.now - stopped) after its cancel")
        await runner.release()
        #expect(try f.ledger.projectionOwner(.broadcast) == nil)
        // Longer than several renewal intervals: no renewal takes the lease back.
        try await Task.sleep(for: .milliseconds(400))
        #expect(try f.ledger.projectionOwner(.broadcast) == nil, "a renewal took the projection back after release()")
        #expect(try f.ledger.projectionStatus([.broadcast]).first { $0.name == .broadcast }.map { $0.pending > 0 || $0.lag > 0 } == true)
    }

    /// A delivery under way when the live runner stops goes on to its end (within a grace) and
    /// is recorded as sent: cut off at once, it was recorded as not delivered and sent again by
    /// the next run, though the service had it (an AnyCable try-out counted 120 publications for
    /// 88 messages).
    @Test(.timeLimit(.minutes(1)))
    func aDeliveryUnderWayWhenTheRunnerStopsIsRecordedAsSent() async throws {
        /// A service that takes each request at once and answers 300 ms later; the client stops
        /// waiting for the answer when cancelled (as the HTTP transports do), so a delivery cut
        /// off reads as failed though the service has the messages.
        final class Slow: BroadcastSink {
            let entered = Mutex(false), finished = Mutex(0)
            func deliver(_ publications: [Publication]) async throws(SinkError) {
                entered.withLock { $0 = true }
                finished.withLock { $0 += publications.count }  // the service has them
                do { try await Task.sleep(for: .milliseconds(300)) } catch { throw .unavailable("cancelled while waiting for the answer") }
            }
        }
        let f = try Fixture()
        let sink = Slow()
        try await f.appendHappyJob(progressTicks: 1)
        let runner = runner(f, sink: sink)
        let live = Task { try await runner.runLive() }
        await until("a delivery under way") { sink.entered.withLock { $0 } }
        live.cancel()
        _ = try? await live.value
        let delivered = sink.finished.withLock { $0 }
        #expect(delivered > 0)
        let sent = try f.ledger.outboxItems(.broadcast, status: .sent).count
        #expect(sent == delivered, "what the service took is recorded as sent: \(sent) of \(delivered)")
    }
}
