import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import Synchronization

/// Projection benchmarks: rebuilding the jobs table from a log (against a raw scan of the same
/// rows, in the same run), and broadcasting a log's messages to the in-process hub.
package enum ProjectionBench {
    package struct Result {
        package var rebuild: LedgerBenchmarks.Comparison
        package var broadcastMessages: Int
        package var broadcastSeconds: Double
        package var received: Int
        package var messagesPerSecond: Double { Double(broadcastMessages) / broadcastSeconds }
    }

    package static func seconds(_ d: Duration) -> Double { LedgerBenchmarks.seconds(d) }

    package static func run(path: String, events: Int) async throws -> Result {
        let ledger = try Ledger.open(path: path, create: false)
        var options = ProjectionRunner.Options(owner: "bench:\(getpid())")
        options.logger.logLevel = .error
        options.batchSize = 4096
        let clock = ContinuousClock()
        // Raw scan and rebuild alternate, three rounds each; the medians are compared.
        var raw: [Double] = [], ours: [Double] = []
        var applied = 0
        for _ in 0..<3 {
            let scan = try LedgerBenchmarks.rawScan(path: path)
            raw.append(Double(scan.events) / scan.seconds)
            try await ledger.resetJobsTable()
            let t = clock.now
            applied = try await ProjectionRunner(ledger: ledger, options: options).catchUp().applied
            ours.append(Double(applied) / seconds(t.duration(to: clock.now)))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let rebuild = LedgerBenchmarks.Comparison(name: "rebuild the jobs table vs raw scan", events: applied,
                                                  ours: median(ours), raw: median(raw), target: 0.2)

        // Every event's message, uncoalesced, from the log to a subscriber of the hub.
        let hub = BroadcastHub(bufferLimit: Int.max)
        let stream = hub.subscribe()
        let counted = Mutex(0)
        let reader = Task { for await _ in stream { counted.withLock { $0 += 1 } } }
        options.coalesceProgress = false
        options.deliveryBatch = 1000
        let t0 = clock.now
        let report = try await ProjectionRunner(ledger: ledger, broadcasts: hub, options: options).catchUp()
        hub.finish()
        await reader.value
        let broadcastSeconds = seconds(t0.duration(to: clock.now))
        return Result(rebuild: rebuild, broadcastMessages: report.delivered, broadcastSeconds: broadcastSeconds, received: counted.withLock { $0 })
    }
}
