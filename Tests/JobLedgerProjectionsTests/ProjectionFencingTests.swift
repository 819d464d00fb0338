import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// A sink whose calls block until released, counting how many are in flight at once.
final class BlockingSink: BroadcastSink {
    private let state = Mutex<(inFlight: Int, most: Int, calls: Int, received: [Publication])>((0, 0, 0, []))
    let gate = Gate()
    var preferredBatchSize: Int? { 100 }

    func deliver(_ publications: [Publication]) async throws(SinkError) {
        state.withLock { $0.inFlight += 1; $0.calls += 1; $0.most = max($0.most, $0.inFlight) }
        defer { state.withLock { $0.inFlight -= 1 } }
        while !gate.isOpen { await Task.yield() }
        state.withLock { $0.received += publications }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var mostAtOnce: Int { state.withLock { $0.most } }
    var calls: Int { state.withLock { $0.calls } }
    var received: [Publication] { state.withLock { $0.received } }
}

@Suite struct ProjectionFencingTests {
    func runner(_ f: Fixture, owner: String, sink: any BroadcastSink, renew: Duration, ledger: Ledger? = nil) -> ProjectionRunner {
        var o = ProjectionRunner.Options(owner: owner)
        o.randomSeed = 5
        o.leaseMilliseconds = 1_000
        o.renewInterval = renew
        o.coalesceProgress = false
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return ProjectionRunner(ledger: ledger ?? f.ledger, clock: f.clock, broadcasts: sink, options: o)
    }

    func leaseUntil(_ f: Fixture) throws -> Int64 {
        let q = try DatabaseQueue(path: f.dir.path("jobs.sqlite"))
        defer { try? q.close() }
        return try q.read { try Int64.fetchOne($0, sql: "SELECT lease_until FROM projections WHERE name = 'broadcast'") } ?? 0
    }

    func secondLedger(_ f: Fixture) throws -> Ledger {
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        return try Ledger.open(path: f.dir.path("jobs.sqlite"), configuration: c)
    }

    @Test func aDeliverySlowerThanTheLeaseKeepsItsProjectionAndNothingIsDeliveredTwiceAtOnce() async throws {
        let f = try Fixture()
        let sink = BlockingSink()
        let a = runner(f, owner: "A", sink: sink, renew: .milliseconds(5))
        let b = runner(f, owner: "B", sink: sink, renew: .milliseconds(5), ledger: try secondLedger(f))
        try await f.appendHappyJob(progressTicks: 2)
        let first = Task { try await a.catchUp() }
        await until("A's delivery to start") { sink.inFlight == 1 }
        f.clock.advance(milliseconds: 5_000)  // far past the lease A took
        let now = f.clock.now().milliseconds
        await until("A to renew its lease while the call is in flight") { ((try? leaseUntil(f)) ?? 0) > now }
        let second = try await b.catchUp()
        #expect(second.notOwned.contains(.broadcast))
        #expect(second.delivered == 0)
        sink.gate.release()
        let done = try await first.value
        #expect(done.delivered == 6)
        #expect(sink.mostAtOnce == 1)
        #expect(sink.received.count == 6)
        #expect(try f.status(.broadcast).sent == 6 && f.status(.broadcast).pending == 0)
    }

    @Test func aHolderThatWasTakenOverRecordsNothingMore() async throws {
        let f = try Fixture()
        let slow = BlockingSink()
        let quick = ScriptedSink()
        // A never renews (a frozen process); B takes over once A's lease has run out.
        let a = runner(f, owner: "A", sink: slow, renew: .seconds(3600))
        let b = runner(f, owner: "B", sink: quick, renew: .milliseconds(5), ledger: try secondLedger(f))
        try await f.appendHappyJob(progressTicks: 2)
        let first = Task { try await a.catchUp() }
        await until("A's delivery to start") { slow.inFlight == 1 }
        f.clock.advance(milliseconds: 5_000)
        let second = try await b.catchUp()
        #expect(!second.notOwned.contains(.broadcast))
        #expect(second.delivered == 6)
        slow.gate.release()  // A comes back and tries to record its delivery
        let late = try await first.value
        #expect(late.delivered == 0, "A's markSent must be refused")
        let status = try f.status(.broadcast)
        #expect(status.sent == 6 && status.owner == "B")
        #expect(quick.received.count == 6)
    }
}
