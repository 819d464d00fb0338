import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Synchronization
import Testing

/// `work --intake upstash --until-idle` with Upstash gone mid-run finished its jobs, then logged
/// "intake pull failed, retrying" every 2 s for ever: a run meant to end never did. Pulls that
/// keep failing past `giveUpAfter` now end `workUntilIdle(feedingFrom:)` with
/// `IntakeUnavailable`, after the jobs taken in have run; a failure that clears does not.
@Suite struct IntakeUnavailableTests {
    /// Hands out `submissions` on its first pull, then fails the pulls listed in `failing`
    /// (by number, from 2) and finds nothing on the others.
    final class FlakyIntake: JobIntake {
        struct Down: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let submissions: [JobSubmission]
        let failing: @Sendable (Int) -> Bool
        let pulls = Atomic<Int>(0)
        init(_ submissions: [JobSubmission], failing: @escaping @Sendable (Int) -> Bool) {
            self.submissions = submissions; self.failing = failing
        }
        func pull(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int {
            let n = pulls.add(1, ordering: .relaxed).newValue
            if n == 1 { return try await submit(submissions).count }
            if failing(n) { throw Down() }
            return 0
        }
    }

    static let quick = IdleBackoff(minimum: .milliseconds(5), maximum: .milliseconds(20))

    @Test func pullsThatKeepFailingEndTheRunAfterItsJobsRan() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion(output: ["ok": true]) }
        let intake = FlakyIntake([JobSubmission(kind: "k", input: [:], idempotencyKey: "a"), JobSubmission(kind: "k", input: [:], idempotencyKey: "b")],
                                 failing: { _ in true })
        let error = await #expect(throws: IntakeUnavailable.self) {
            try await engine.workUntilIdle(feedingFrom: intake, idle: Self.quick, pollInterval: .milliseconds(5), giveUpAfter: .milliseconds(200))
        }
        #expect(error?.lastError == "connection refused")
        #expect(error.map { $0.duration >= .milliseconds(200) } == true)
        #expect(error?.description.contains("the intake could not be read for") == true)
        #expect(intake.pulls.load(ordering: .relaxed) > 2, "it retried before giving up")
        let jobs = try f.ledger.jobStates().values
        #expect(jobs.count == 2 && jobs.allSatisfy { $0.status == .completed }, "\(jobs.map(\.status))")
    }

    @Test func aFailureThatClearsDoesNotEndTheRun() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion(output: ["ok": true]) }
        // Pulls 2…4 fail, then the intake answers (empty): the run ends idle, without an error.
        let intake = FlakyIntake([JobSubmission(kind: "k", input: [:], idempotencyKey: "a")], failing: { (2...4).contains($0) })
        try await engine.workUntilIdle(feedingFrom: intake, idle: Self.quick, pollInterval: .milliseconds(5), giveUpAfter: .seconds(30))
        #expect(try f.ledger.jobStates().values.map(\.status) == [.completed])
    }

    /// A pull that does not come back (a source that does not answer, as a hanging Upstash read)
    /// is cut off when the engine shuts down: the shutdown waited for it, for the source's whole
    /// timeout (up to ten minutes).
    @Test(.timeLimit(.minutes(1)))
    func aPullThatHangsIsCutOffByAShutdown() async throws {
        final class Hanging: JobIntake {
            let entered = Atomic<Bool>(false)
            func pull(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int {
                entered.store(true, ordering: .relaxed)
                try await Task.sleep(for: .seconds(3_600))  // until cancelled, as a transport waiting for an answer
                return 0
            }
        }
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion() }
        let intake = Hanging()
        let feed = Task { try await engine.work(feedingFrom: intake, idle: Self.quick, pollInterval: .milliseconds(5)) }
        await until("the pull to start") { intake.entered.load(ordering: .relaxed) }
        await engine.shutdown(drain: .zero)
        try await feed.value
    }

    /// The held-back acknowledgements sent at a shutdown to a source that does not answer are
    /// given up after a few seconds (the entries are read again; their submits are idempotent):
    /// the shutdown waited for them for the source's whole timeout, retries included.
    @Test(.timeLimit(.minutes(1)))
    func aFlushThatHangsDoesNotHoldAShutdown() async throws {
        final class HangingFlush: JobIntake {
            let pulled = Atomic<Bool>(false)
            func pull(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int {
                pulled.store(true, ordering: .relaxed)
                return 0
            }
            func flush() async throws { try await Task.sleep(for: .seconds(3_600)) }  // until cancelled
        }
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion() }
        let intake = HangingFlush()
        let feed = Task { try await engine.work(feedingFrom: intake, idle: Self.quick, pollInterval: .milliseconds(5)) }
        await until("a pull") { intake.pulled.load(ordering: .relaxed) }
        await engine.shutdown(drain: .zero)
        try await feed.value
    }
}
