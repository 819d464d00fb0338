import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// An effect projection whose `deliver` answers its first `silent` calls with a report that
/// names no item, neither delivered nor failed, and delivers everything after that.
struct SilentThenDelivering: EffectProjection {
    final class Tally: Sendable {
        let calls = Mutex(0)
        let delivered = Mutex<[Int64]>([])
    }
    let name = ProjectionName("silent")
    let silent: Int
    let tally = Tally()
    var calls: Int { tally.calls.withLock { $0 } }
    var delivered: [Int64] { tally.delivered.withLock { $0 } }

    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        event.type == .queued ? [OutboxDraft(target: "somewhere", body: state.id.rawValue)] : []
    }

    func deliver(_ items: [OutboxItem]) async -> Delivery {
        let call = tally.calls.withLock { n in n += 1; return n }
        guard call > silent else { return Delivery(delivered: []) }
        tally.delivered.withLock { $0 += items.map(\.seq) }
        return .delivered(items)
    }
}

@Suite struct SilentDeliveryTests {
    /// A delivery that reports nothing delivered and nothing failed made `catchUp()` hand the
    /// same items over again at once, for ever (100 % CPU). It is a failed try of the items
    /// handed over: they stay owed, back off, and are delivered once the sink takes them.
    @Test func aDeliveryThatReportsNothingBacksOffAndLosesNothing() async throws {
        let f = try Fixture()
        let hook = SilentThenDelivering(silent: 2)
        var o = ProjectionRunner.Options(owner: "app")
        o.randomSeed = 3
        o.retry = RetryPolicy(baseMilliseconds: 1_000, capMilliseconds: 1_000)
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, extra: [hook], options: o)
        for i in 0..<3 {
            _ = try await f.ledger.append([NewEvent(job: try JobID("job-\(i)"), payload: .queued(.init(kind: "k")))])
        }

        // One call, recorded as a failed try of the three items; catchUp returns.
        var r = try await runner.catchUp()
        #expect(hook.calls == 1 && r.failed == 3 && r.delivered == 0, "\(r)")
        var status = try f.ledger.projectionStatus([hook.name])[0]
        #expect(status.pending == 3 && status.dead == 0)
        #expect(status.lastError?.contains("reported none of the 3 items delivered and none failed") == true, "\(status)")
        let next = try #require(status.nextAttemptAt)
        #expect(next > f.clock.now())

        // Nothing is handed over before the backoff is over.
        r = try await runner.catchUp()
        #expect(hook.calls == 1 && r.failed == 0)

        // After it, one more silent answer (a second try), then the items go out, once each, in order.
        f.clock.advance(milliseconds: next.milliseconds(since: f.clock.now()))
        r = try await runner.catchUp()
        #expect(hook.calls == 2 && r.failed == 3)
        f.clock.advance(milliseconds: 1_000)
        r = try await runner.catchUp()
        #expect(hook.calls == 3 && r.delivered == 3, "\(r)")
        #expect(hook.delivered == [1, 2, 3])
        status = try f.ledger.projectionStatus([hook.name])[0]
        #expect(status.sent == 3 && status.pending == 0 && status.dead == 0)
    }
}
