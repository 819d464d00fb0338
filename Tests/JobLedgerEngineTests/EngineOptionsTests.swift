import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Options an engine cannot work with are refused, not waited on: a concurrency below 1 left
/// no slot to run an attempt in, and `workUntilIdle()` waited for a free one forever.
@Suite struct EngineOptionsTests {
    static let refusal = InvalidEngineOptions(option: "concurrency", reason: "must be at least 1, got 0")

    @Test func validateRefusesAConcurrencyBelowOne() throws {
        var o = JobEngine.Options(workerID: "w1")
        #expect(throws: Never.self) { try o.validate() }
        o.concurrency = 0
        #expect(throws: Self.refusal) { try o.validate() }
        o.concurrency = -3
        #expect(throws: InvalidEngineOptions(option: "concurrency", reason: "must be at least 1, got -3")) { try o.validate() }
        #expect(Self.refusal.description == "invalid JobEngine option 'concurrency': must be at least 1, got 0")
    }

    /// Progress merged over an interval as long as the lease renews the lease too late: other
    /// engines would take over attempts still running. Refused before anything is claimed.
    @Test func validateRefusesAProgressIntervalNotBelowTheLease() throws {
        var o = JobEngine.Options(workerID: "w1")
        o.leaseMilliseconds = 2_000
        o.progressIntervalMilliseconds = 1_999
        #expect(throws: Never.self) { try o.validate() }
        o.progressIntervalMilliseconds = 2_000
        #expect(throws: InvalidEngineOptions.self) { try o.validate() }
        do { try o.validate() } catch { #expect(error.option == "progressIntervalMilliseconds" && error.reason.contains("below leaseMilliseconds (2000)")) }
    }

    /// A worker id the log cannot record had every claim refused: the engine tried again every
    /// round, ran nothing and `workUntilIdle()` never returned. A lease that is not positive, or
    /// one that puts the deadline past the years the log records, likewise.
    @Test func validateRefusesAWorkerIDAndALeaseTheLogCannotRecord() async throws {
        var o = JobEngine.Options(workerID: "")
        #expect(throws: InvalidEngineOptions(option: "workerID", reason: "must be 1…200 bytes long, got 0")) { try o.validate() }
        o.workerID = String(repeating: "w", count: 201)
        #expect(throws: InvalidEngineOptions(option: "workerID", reason: "must be 1…200 bytes long, got 201")) { try o.validate() }
        o.workerID = String(repeating: "w", count: 200)
        #expect(throws: Never.self) { try o.validate() }
        for lease: Int64 in [0, -5, JobEngine.Options.maxLeaseMilliseconds + 1, .max] {
            o.leaseMilliseconds = lease
            o.progressIntervalMilliseconds = -10
            #expect(throws: InvalidEngineOptions(option: "leaseMilliseconds",
                                                 reason: "must be in 1…31536000000 (a year), got \(lease)")) { try o.validate() }
        }

        let f = try Fixture()
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: JobEngine.Options(workerID: ""))
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        await #expect(throws: InvalidEngineOptions.self) { try await engine.workUntilIdle() }
        #expect(try f.types(job) == [.queued])
    }

    /// Every way of working throws before it claims anything: the job stays queued.
    @Test func workingWithAConcurrencyOfZeroThrowsAndClaimsNothing() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 0)
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        await #expect(throws: Self.refusal) { try await engine.workUntilIdle() }
        await #expect(throws: Self.refusal) { try await engine.work() }
        await #expect(throws: Self.refusal) { try await engine.tick() }
        await #expect(throws: Self.refusal) { try await engine.run() }
        #expect(try f.types(job) == [.queued])
    }

}
