import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Options out of their range are refused by `validate()`, naming the option, instead of being
/// taken as they come: a probe set a progress interval of -5 ms, snapshots every 0 or -1
/// events, a negative drain and cancel grace, and an asset prune every 0 ms of assets staged
/// "-1 ms ago" (reaching into the future), and `validate()` let every one of them through.
@Suite struct EngineOptionRangesTests {
    /// The option `validate()` refuses in `o`, or nil.
    static func refused(_ o: JobEngine.Options) -> InvalidEngineOptions? {
        do throws(InvalidEngineOptions) {
            try o.validate()
            return nil
        } catch {
            return error
        }
    }

    static func options(_ change: (inout JobEngine.Options) -> Void) -> JobEngine.Options {
        var o = JobEngine.Options(workerID: "w1")
        change(&o)
        return o
    }

    @Test func theDefaultsAndTheEdgesOfEachRangeAreAccepted() {
        #expect(Self.refused(JobEngine.Options(workerID: "w1")) == nil)
        let edges = Self.options { o in
            o.progressIntervalMilliseconds = 0
            o.snapshotIntervalEvents = 1
            o.drainTimeout = .zero
            o.cancelGrace = .zero
            o.assetPrune = .init(intervalMilliseconds: 1, graceMilliseconds: 0)
            o.storageFaults = StorageFaultPolicy(firstRetry: .zero, maxRetry: .zero, reminderInterval: .zero, giveUpAfter: .zero, settle: .zero)
        }
        #expect(Self.refused(edges) == nil)
        #expect(Self.refused(Self.options { $0.snapshotIntervalEvents = nil; $0.assetPrune = nil }) == nil)
    }

    @Test func aNegativeProgressIntervalIsRefused() throws {
        let e = try #require(Self.refused(Self.options { $0.progressIntervalMilliseconds = -5 }))
        #expect(e.option == "progressIntervalMilliseconds")
        #expect(e.reason == "must be in 0…29999 (0: every report is written; below leaseMilliseconds), got -5")
    }

    @Test func aSnapshotIntervalBelowOneEventIsRefused() {
        for n in [0, -1] {
            #expect(Self.refused(Self.options { $0.snapshotIntervalEvents = n })
                    == InvalidEngineOptions(option: "snapshotIntervalEvents", reason: "must be at least 1 event (nil: no snapshots), got \(n)"))
        }
    }

    @Test func aNegativeDrainTimeoutOrCancelGraceIsRefused() {
        #expect(Self.refused(Self.options { $0.drainTimeout = .seconds(-1) })?.option == "drainTimeout")
        #expect(Self.refused(Self.options { $0.cancelGrace = .milliseconds(-1) })?.option == "cancelGrace")
        #expect(Self.refused(Self.options { $0.cancelGrace = .seconds(-2) })?.description
                == "invalid JobEngine option 'cancelGrace': must be zero or more, got -2.0 seconds")
    }

    @Test func anAssetPruneEveryZeroMillisecondsOrWithANegativeGraceIsRefused() {
        #expect(Self.refused(Self.options { $0.assetPrune = .init(intervalMilliseconds: 0, graceMilliseconds: -1) })
                == InvalidEngineOptions(option: "assetPrune.intervalMilliseconds", reason: "must be at least 1 (nil assetPrune: never prune), got 0"))
        #expect(Self.refused(Self.options { $0.assetPrune = .init(intervalMilliseconds: 60_000, graceMilliseconds: -1) })?.option
                == "assetPrune.graceMilliseconds")
    }

    @Test func aNegativeStorageFaultDurationIsRefused() {
        #expect(Self.refused(Self.options { $0.storageFaults.giveUpAfter = .seconds(-1) })?.option == "storageFaults.giveUpAfter")
        #expect(Self.refused(Self.options { $0.storageFaults.firstRetry = .milliseconds(-250) })?.option == "storageFaults.firstRetry")
    }

    /// What `validate()` refuses, every way of working refuses before it claims anything.
    @Test func workingWithAnOptionOutOfRangeClaimsNothing() async throws {
        let f = try Fixture()
        var o = JobEngine.Options(workerID: "w1")
        o.snapshotIntervalEvents = 0
        let engine = JobEngine(ledger: f.ledger, clock: f.clock, options: o)
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        await #expect(throws: InvalidEngineOptions.self) { try await engine.workUntilIdle() }
        await #expect(throws: InvalidEngineOptions.self) { try await engine.tick() }
        #expect(try f.types(job) == [.queued])
    }

    /// A log whose payload limit is below what the engine's own events need had every claim
    /// refused and tried again, twenty times a second, for ever (`work --max-payload-bytes 50`).
    /// Refused before anything is claimed, naming the limit; at the minimum, jobs run.
    @Test func aLogWhosePayloadLimitTheEnginesEventsDoNotFitIsRefused() async throws {
        let f = try Fixture()
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        c.maxPayloadBytes = JobEngine.minimumPayloadBytes - 1
        let small = try Ledger.open(path: f.dir.path("jobs.sqlite"), configuration: c)
        let engine = f.engine(ledger: small)
        engine.register(kind: "k") { _ in JobCompletion() }
        let job = try await engine.submit(kind: "k")
        do {
            _ = try await engine.tick()
            Issue.record("claimed on a log whose limit is \(c.maxPayloadBytes)")
        } catch let e as InvalidEngineOptions {
            #expect(e.option == "maxPayloadBytes" && e.reason.contains("at least \(JobEngine.minimumPayloadBytes) bytes"), "\(e)")
        }
        #expect(try f.types(job) == [.queued])

        c.maxPayloadBytes = JobEngine.minimumPayloadBytes
        let enough = try Ledger.open(path: f.dir.path("jobs.sqlite"), configuration: c)
        let working = f.engine(ledger: enough)
        working.register(kind: "k") { _ in JobCompletion() }
        try await working.workUntilIdle()
        #expect(try f.types(job) == [.queued, .started, .completed])
    }
}
