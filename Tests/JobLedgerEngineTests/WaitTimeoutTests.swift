import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization
import Testing

/// `wait(for:timeout:)` gives up once the timeout has passed on the engine's clock (here a
/// `ManualClock`, moved by the test) and throws `WaitTimeout`; without a timeout, or when the
/// job finishes first, it returns the final state as before.
@Suite struct WaitTimeoutTests {
    @Test func aZeroTimeoutLooksOnce() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let job = try await engine.submit(kind: "k")
        await #expect(throws: WaitTimeout(job: job, timeout: .zero, status: .queued)) {
            try await engine.wait(for: job, timeout: .zero)
        }
        // A finished job is returned, timeout or not.
        engine.register(kind: "k") { _ in JobCompletion() }
        try await engine.tick()
        #expect(try await engine.wait(for: job, timeout: .zero).status == .completed)
        #expect(try await engine.wait(for: job).status == .completed)
    }

    /// The timeout runs on the engine's clock: the wall clock does not end it, moving the
    /// ManualClock past it does.
    @Test func theTimeoutPassesOnTheEnginesClock() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let job = try await engine.submit(kind: "k")
        let waiter = Task { try await engine.wait(for: job, timeout: .seconds(30), pollInterval: .milliseconds(1)) }
        let ended = Mutex(false)
        let watcher = Task { _ = try? await waiter.value; ended.withLock { $0 = true } }
        // Still waiting with the clock standing still.
        #expect(!ended.withLock { $0 })
        // Move the clock a second at a time until the wait gives up (30 s after it began).
        var moved: Int64 = 0
        await until("the wait to time out") {
            if ended.withLock({ $0 }) { return true }
            f.clock.advance(milliseconds: 1_000)
            moved += 1_000
            return false
        }
        await watcher.value
        await #expect(throws: WaitTimeout(job: job, timeout: .seconds(30), status: .queued)) { try await waiter.value }
        #expect(moved >= 30_000, "gave up only once 30 s had passed on the engine's clock, after \(moved) ms")
        #expect(WaitTimeout(job: job, timeout: .seconds(30), status: .queued).description == "job \(job): still queued after waiting 30.0 seconds")
    }

    @Test func aJobThatFinishesInTimeIsReturned() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion(output: ["ok": true]) }
        let job = try await engine.submit(kind: "k")
        let waiter = Task { try await engine.wait(for: job, timeout: .seconds(30), pollInterval: .milliseconds(1)) }
        try await engine.tick()
        let final = try await waiter.value
        #expect(final.status == .completed && final.output == ["ok": true])
    }

    enum Echo: JobDefinition {
        typealias Input = Int
        typealias Output = Int
        static let kind = "echo"
    }

    @Test func theTypedWaitTakesATimeoutToo() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let job = try await engine.submit(Echo.self, 7)
        await #expect(throws: WaitTimeout(job: job, timeout: .zero, status: .queued)) {
            try await engine.wait(for: job, as: Echo.self, timeout: .zero)
        }
        engine.register(Echo.self) { _, n in n * 6 }
        try await engine.tick()
        #expect(try await engine.wait(for: job, as: Echo.self, timeout: .zero) == 42)
    }
}
