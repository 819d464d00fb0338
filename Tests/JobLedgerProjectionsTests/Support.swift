import Foundation
import JobLedger
import JobLedgerSQLite
import Synchronization
import Testing

final class TempDir: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-projections-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Waits (bounded, yielding, not sleeping) until `condition` holds; the test fails with `what`
/// when the deadline passes first.
func until(_ what: @autoclosure () -> String = "the condition", within deadline: Duration = .seconds(300),
           sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async {
    let end = ContinuousClock.now.advanced(by: deadline)
    while !condition() {
        guard ContinuousClock.now < end else {
            Issue.record("waited \(deadline) for \(what()); it never came", sourceLocation: sourceLocation)
            return
        }
        // A short sleep, not a yield: a yield loop keeps one of the cooperative pool's few threads
        // busy, and under load the work being waited for starves behind it.
        try? await Task.sleep(for: .milliseconds(1))
    }
}

/// A switch one task flips and others poll.
final class Gate: Sendable {
    private let open = Mutex(false)
    func release() { open.withLock { $0 = true } }
    var isOpen: Bool { open.withLock { $0 } }
}

/// Collects values across tasks.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func add(_ x: T) { items.withLock { $0.append(x) } }
    var all: [T] { items.withLock { $0 } }
}

/// A log on a manual clock in a fresh folder.
struct Fixture {
    let dir = TempDir()
    let clock = ManualClock()
    let ledger: Ledger
    init() throws {
        var c = LedgerConfiguration()
        c.clock = clock.function
        ledger = try Ledger.open(path: dir.path("jobs.sqlite"), configuration: c)
    }
}
