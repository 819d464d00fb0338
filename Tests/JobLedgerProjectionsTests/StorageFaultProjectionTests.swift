import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// Keeps a 2 KB receipt per delivered item in a table of its own, so that recording a delivery
/// needs room in the log; calls `onDeliver` as it delivers.
private struct ReceiptingHook: EffectProjection {
    let name = ProjectionName("hook")
    let delivered: Recorder<Int64>
    let recordTries: Recorder<Int>
    let onDeliver: @Sendable () async -> Void

    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        [OutboxDraft(target: "hook", body: "\(event.seq)")]
    }

    func deliver(_ items: [OutboxItem]) async -> Delivery {
        await onDeliver()
        for item in items { delivered.add(item.seq) }
        return Delivery(delivered: items.map { ($0, String(repeating: "r", count: 2048)) })
    }

    func recordDelivered(_ receipts: [(item: OutboxItem, receipt: String)], db: Database) throws {
        recordTries.add(receipts.count)
        for (item, receipt) in receipts {
            try db.execute(sql: "INSERT INTO hook_receipts (seq, receipt) VALUES (?, ?)", arguments: [item.seq, receipt])
        }
    }
}

/// Captures log records in memory.
private struct Capture: LogHandler {
    let records: Recorder<(level: Logger.Level, message: String)>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { records.add((event.level, event.message.description)) }
}

@Suite struct StorageFaultProjectionTests {
    /// The log runs out of room just as a delivery goes out: the delivery cannot be recorded,
    /// the runner pauses (one error), records that delivery — without delivering it again —
    /// once space is freed, and goes on: every item delivered once, in order, nothing lost.
    @Test func aProjectionWhoseWritesFailPausesAndResumesDeliveringEachItemOnce() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("jobs.sqlite"))  // the wall clock: backoff and outbox times are real
        try await ledger.writeTransaction { db in try db.execute(sql: "CREATE TABLE hook_receipts (seq INTEGER PRIMARY KEY, receipt TEXT)") }
        for i in 0..<20 {
            let job = try JobID("job-\(i)")
            _ = try await ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "k", input: [:]))))
            _ = try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: "test"))))
        }
        let head = try #require(try ledger.head()).seq
        let delivered = Recorder<Int64>(), recordTries = Recorder<Int>()
        let filled = Mutex(false)
        let hook = ReceiptingHook(delivered: delivered, recordTries: recordTries) {
            // The first delivery fills the log: recording it fails.
            guard filled.withLock({ f in defer { f = true }; return !f }) else { return }
            _ = try? await ledger.setMaxPageCount(1)
        }
        let records = Recorder<(level: Logger.Level, message: String)>()
        var o = ProjectionRunner.Options(owner: "test")
        o.deliveryBatch = 8
        o.pollInterval = .milliseconds(5)
        o.storageFaults = StorageFaultPolicy(firstRetry: .milliseconds(10), maxRetry: .milliseconds(100))
        o.logger = Logger(label: "test") { _ in Capture(records: records) }
        let runner = ProjectionRunner(ledger: ledger, state: [JobsTableProjection()], effects: [hook], options: o)
        let live = Task { try await runner.runLive() }
        defer { live.cancel() }

        await until("the runner to pause on the full log") { runner.storageFault != nil }
        #expect(runner.storageFault?.fault.kind == .full)
        await until("recording the delivery to be tried again while paused") { recordTries.all.count >= 3 }
        #expect(delivered.all.count == 8, "delivered again while its sending could not be recorded: \(delivered.all)")
        #expect(recordTries.all.allSatisfy { $0 == 8 })  // the same delivery, recorded again
        #expect(records.all.filter { $0.level >= .warning }.count == 1, "\(records.all.map(\.message))")

        try await ledger.setMaxPageCount(nil)  // space freed
        await until("every item to be sent") {
            (try? ledger.projectionStatus([hook.name]).first).map { $0.pending == 0 && $0.lag == 0 && $0.sent == Int(head) } ?? false
        }
        #expect(delivered.all == Array(1...head), "each item once, in order")
        await until("the jobs table to catch up") { (try? ledger.checkpoint(of: .jobs).checkpoint) == head }
        let rows = try ledger.readSnapshot { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM hook_receipts") }
        #expect(rows == Int(head))
        await until("the episode to settle") { runner.storageFault == nil && records.all.count >= 2 }
        let loud = records.all.filter { $0.level >= .warning }
        #expect(loud.count == 2, "\(loud.map(\.message))")
        #expect(loud.first?.level == .error && loud.first?.message.contains("storage fault while") == true)
        #expect(loud.last?.message.contains("storage fault cleared") == true)
    }
}
