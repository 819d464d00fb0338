import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Synchronization

/// A fresh directory per test, removed when the value is released.
final class TempDir: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let now = Mutex(Timestamp(milliseconds: 1_795_000_000_000))
    var current: Timestamp { now.withLock { $0 } }
    func advance(_ ms: Int64) { now.withLock { $0 = $0.adding(milliseconds: ms) } }
    var function: @Sendable () -> Timestamp { { self.current } }
}

func config(clock: TestClock? = nil, maxPayload: Int = 64 * 1024, busy: Duration = .seconds(5)) -> LedgerConfiguration {
    var c = LedgerConfiguration()
    if let clock { c.clock = clock.function }
    c.maxPayloadBytes = maxPayload
    c.busyTimeout = busy
    return c
}

func jid(_ s: String) -> JobID { try! JobID(s) }

let queued = EventPayload.queued(.init(kind: "design", input: .object(["prompt": .string("a cat")])))
func started(_ attempt: Int = 1, worker: String = "w1") -> EventPayload {
    .started(.init(worker: worker, attempt: attempt, leaseDeadline: Timestamp(milliseconds: 1_795_000_060_000)))
}
func progress(_ f: Double) -> EventPayload { .progress(.init(fraction: f, message: "step", attempt: 1)) }
let completed = EventPayload.completed(.init(output: .object(["ok": .bool(true)]), attempt: 1))

/// A job's whole happy path: queued, started, three progress ticks, completed.
func lifecycle(_ job: JobID) -> [NewEvent] {
    [queued, started(), progress(0.25), progress(0.5), progress(0.75), completed].map { NewEvent(job: job, payload: $0) }
}

/// Opens the file behind the ledger's back, as a tamperer (or an operator with sqlite3) would.
func rawQueue(_ path: String) throws -> DatabaseQueue {
    var c = Configuration()
    c.busyMode = .timeout(5)
    c.allowsUnsafeTransactions = true  // tests hold a lock across accesses on purpose
    return try DatabaseQueue(path: path, configuration: c)
}

func expectLedgerError(_ body: () async throws -> Void) async -> LedgerError? {
    do { try await body(); return nil } catch let e as LedgerError { return e } catch { return .storage("unexpected \(error)") }
}
