import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// `ProjectionRunner.Options` out of their range are refused, naming the option and its range,
/// by every way of running the runner, before the log is touched: a probe's `batchSize = -1`
/// stopped the process (`Range requires lowerBound <= upperBound`), `batchSize = 0` had
/// `catchUp()` apply nothing for ever (the jobs table stayed empty), and `deliveryBatch = 0`
/// had `drain(for:)` deliver nothing and report items pending with no error.
@Suite struct ProjectionOptionsTests {
    static func options(_ change: (inout ProjectionRunner.Options) -> Void) -> ProjectionRunner.Options {
        var o = ProjectionRunner.Options(owner: "app")
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        change(&o)
        return o
    }

    /// The option `validate()` refuses in `o`, or nil.
    static func refused(_ o: ProjectionRunner.Options) -> InvalidProjectionOptions? {
        do throws(InvalidProjectionOptions) {
            try o.validate()
            return nil
        } catch {
            return error
        }
    }

    @Test func aBatchSizeBelowOneIsRefusedByEveryRunAndNothingIsWritten() async throws {
        let f = try Fixture()
        _ = try await f.ledger.append([NewEvent(job: try JobID("job-1"), payload: .queued(.init(kind: "k")))])
        for size in [-1, 0] {
            let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: BroadcastHub(), options: Self.options { $0.batchSize = size })
            let refusal = InvalidProjectionOptions(option: "batchSize", reason: "must be in 1…100000 events, got \(size)")
            await #expect(throws: refusal) { try await runner.catchUp() }
            await #expect(throws: refusal) { _ = try await runner.drain(for: .seconds(1)) }
            await #expect(throws: refusal) { try await runner.runLive() }
            await #expect(throws: refusal) { try await runner.run() }
        }
        #expect(try f.ledger.projectionStatus().isEmpty)
        #expect(try f.ledger.checkpoint(of: .jobs).checkpoint == 0)
        #expect(InvalidProjectionOptions(option: "batchSize", reason: "must be in 1…100000 events, got 0").description
                == "invalid ProjectionRunner option 'batchSize': must be in 1…100000 events, got 0")
    }

    @Test func anEmptyOverlongOrControlCharacterOwnerIsRefusedBeforeAnyLeaseIsTaken() async throws {
        // Two runners configured with an empty owner each took the other's lease for its own.
        let f = try Fixture()
        _ = try await f.ledger.append([NewEvent(job: try JobID("job-1"), payload: .queued(.init(kind: "k")))])
        for owner in ["", String(repeating: "o", count: 201), "worker-1\nERROR forged line"] {
            let o = Self.options { $0.owner = owner }
            #expect(Self.refused(o)?.option == "owner", "owner of \(owner.utf8.count) bytes")
            let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: BroadcastHub(), options: o)
            await #expect(throws: InvalidProjectionOptions.self) { try await runner.catchUp() }
        }
        #expect(Self.refused(Self.options { $0.owner = String(repeating: "o", count: 200) }) == nil)
        #expect(Self.refused(Self.options { $0.owner = "build-7/ns:42" }) == nil)
        #expect(Self.refused(Self.options { $0.owner = "" })?.reason.contains("got an empty string") == true)
        #expect(try f.ledger.projectionStatus().isEmpty, "no lease was taken")
    }

    @Test func aDeliveryBatchOfZeroIsRefusedBeforeAnythingIsDelivered() async throws {
        let f = try Fixture()
        _ = try await f.ledger.append([NewEvent(job: try JobID("job-1"), payload: .queued(.init(kind: "k")))])
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: BroadcastHub(), options: Self.options { $0.deliveryBatch = 0 })
        await #expect(throws: InvalidProjectionOptions(option: "deliveryBatch", reason: "must be in 1…100000 items, got 0")) {
            _ = try await runner.drain(for: .seconds(1))
        }
        #expect(try f.ledger.projectionStatus().isEmpty)
    }

    @Test func everyNumericAndDurationOptionIsRangeChecked() {
        #expect(Self.refused(Self.options { _ in }) == nil)
        let edges = Self.options { o in
            o.batchSize = 1; o.stateBatchSize = 100_000; o.deliveryBatch = 100_000; o.maxAttempts = 1; o.batchWindow = .zero; o.stateBatchWindow = .zero; o.shutdownCatchUp = .zero
            o.retry = RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0); o.pollInterval = .milliseconds(1)
            o.leaseMilliseconds = 1; o.renewInterval = .milliseconds(1); o.maxRetryAfterMilliseconds = 0
            o.storageFaults.giveUpAfter = .zero
        }
        #expect(Self.refused(edges) == nil)
        let cases: [(String, (inout ProjectionRunner.Options) -> Void)] = [
            ("batchSize", { $0.batchSize = 100_001 }),
            ("batchWindow", { $0.batchWindow = .milliseconds(-1) }),
            ("stateBatchSize", { $0.stateBatchSize = 0 }),
            ("stateBatchSize", { $0.stateBatchSize = 100_001 }),
            ("stateBatchWindow", { $0.stateBatchWindow = .milliseconds(-1) }),
            ("shutdownCatchUp", { $0.shutdownCatchUp = .seconds(-1) }),
            ("deliveryBatch", { $0.deliveryBatch = -1 }),
            ("maxAttempts", { $0.maxAttempts = 0 }),
            ("retry.baseMilliseconds", { $0.retry.baseMilliseconds = -1 }),
            ("retry.capMilliseconds", { $0.retry.capMilliseconds = -1 }),
            ("pollInterval", { $0.pollInterval = .zero }),
            ("leaseMilliseconds", { $0.leaseMilliseconds = 0 }),
            ("leaseMilliseconds", { $0.leaseMilliseconds = .max }),
            ("renewInterval", { $0.renewInterval = .zero }),
            ("maxRetryAfterMilliseconds", { $0.maxRetryAfterMilliseconds = -1 }),
            ("storageFaults.giveUpAfter", { $0.storageFaults.giveUpAfter = .seconds(-1) }),
            ("storageFaults.maxRetry", { $0.storageFaults.maxRetry = .seconds(-1) }),
        ]
        for (option, change) in cases {
            #expect(Self.refused(Self.options(change))?.option == option, "\(option)")
        }
    }
}
