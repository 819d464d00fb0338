import JobLedger
import Synchronization
import Testing

/// `ManualClock.sleep(until:)`: a sleeper wakes when `advance` reaches its deadline, not before;
/// a deadline already past returns at once; a cancelled sleeper throws and is forgotten.
@Suite struct ManualClockTests {
    @Test func aSleeperWakesWhenTheClockReachesItsDeadline() async throws {
        let clock = ManualClock()
        let deadline = clock.now().adding(milliseconds: 250)
        let woke = Mutex(false)
        let sleeper = Task {
            try await clock.sleep(until: deadline)
            woke.withLock { $0 = true }
            return clock.now()
        }
        // Short of the deadline it stays asleep, however long we look.
        clock.advance(milliseconds: 249)
        for _ in 0..<50 { await Task.yield() }
        #expect(!woke.withLock { $0 })
        clock.advance(milliseconds: 1)
        #expect(try await sleeper.value == deadline)
    }

    @Test func aDeadlineAlreadyPastReturnsAtOnce() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now())
        try await clock.sleep(until: clock.now().adding(milliseconds: -5))
    }

    @Test func aCancelledSleeperThrowsCancellationError() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: clock.now().adding(milliseconds: 1_000)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        clock.advance(milliseconds: 2_000)  // nothing left to wake
    }

    @Test func theWallClockSleepsTheDifference() async throws {
        let clock = SystemClock()
        let start = ContinuousClock.now
        try await clock.sleep(until: clock.now().adding(milliseconds: 20))
        #expect(ContinuousClock.now - start >= .milliseconds(15))
    }
}
