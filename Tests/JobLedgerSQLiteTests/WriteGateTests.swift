import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Synchronization
import Testing

/// The synchronous append fast path commits on a thread of the cooperative pool: it may do so
/// only when no other write of the ledger holds or waits for the writer connection.
@Suite struct WriteGateTests {
    @Test func theFastPathIsRefusedWhileAnotherWriteIsInFlightAndWritesWaitForIt() async {
        let gate = WriteGate()
        #expect(gate.tryEnterFast())
        #expect(!gate.tryEnterFast(), "one fast commit at a time")
        let entered = Mutex(false)
        let writer = Task {
            await gate.enter()
            entered.withLock { $0 = true }
        }
        for _ in 0..<100 { await Task.yield() }
        #expect(!entered.withLock { $0 }, "an async write waits for the fast commit to end")
        gate.leaveFast()
        await writer.value
        #expect(entered.withLock { $0 })
        #expect(gate.writersInFlight == 1)
        #expect(!gate.tryEnterFast(), "no fast path while a write is in flight")
        gate.leave()
        #expect(gate.tryEnterFast())
        gate.leaveFast()
        gate.enterBlocking()
        #expect(!gate.tryEnterFast())
        gate.leave()
    }

    @Test func anAppendDuringAnotherWriteTakesTheAsyncPathInsteadOfBlockingItsThread() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        // Another write of this ledger (as an asset staging or a projection batch would) holds
        // the writer connection until released.
        let release = Mutex(false)
        let holding = Mutex(false)
        let slow = Task {
            try await ledger.gatedWrite { db in
                holding.withLock { $0 = true }
                while !release.withLock({ $0 }) { usleep(1000) }  // a GRDB writer thread, not the pool's
                try db.execute(sql: "SELECT 1")
            }
        }
        while !holding.withLock({ $0 }) { await Task.yield() }
        let append = Task { try await ledger.append(NewEvent(job: jid("b"), payload: queued)) }
        // The append waits for the writer on the async path (counted by the gate) instead of
        // blocking a pool thread in a synchronous write.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ledger.gate.writersInFlight < 2 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(ledger.gate.writersInFlight == 2)
        release.withLock { $0 = true }
        try await slow.value
        let stored = try await append.value
        #expect(stored.job == jid("b") && stored.seq == 2)
        #expect(ledger.gate.writersInFlight == 0)
    }
}
