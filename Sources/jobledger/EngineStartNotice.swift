import Foundation
import JobLedgerEngine
import JobLedgerSQLite

/// Says on stderr, once, that an engine's start will be long (no engine snapshot, or one far
/// behind, and `EngineStart.longFrom` events or more to read: an `import`ed log of 600,000
/// events kept `work` silent for 14 s), and then how long it took. What `work` and `serve` run
/// as their engine starts; a usual start (a snapshot near the head) costs two small reads and
/// says nothing.
enum EngineStartNotice {
    /// Says the beginning of a long start and returns a task that says its end once the engine's
    /// view reaches the head it started at (on a terminal, with a progress line meanwhile); nil
    /// when the start is not long. Cancel the task when the engine stops.
    static func watch(_ engine: JobEngine, ledger: Ledger, from threshold: Int64 = EngineStart.longFrom) -> Task<Void, Never>? {
        guard let start = try? EngineStart.of(ledger), start.isLong(from: threshold) else { return nil }
        printErr("jobledger: " + start.beginning)
        let began = ContinuousClock.now
        let base = start.snapshotSeq ?? 0
        let progress = CommandProgress("rebuilding the engine's state", total: Int(start.eventsToRead))
        return Task {
            defer { progress.finish() }
            while !Task.isCancelled {
                let seq = engine.viewSeq
                if seq >= start.head {
                    progress.finish()
                    let d = began.duration(to: .now)
                    let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                    printErr("jobledger: the engine's state was rebuilt from \(start.eventsToRead) events in \(String(format: "%.1f", seconds)) s")
                    return
                }
                progress.update(Int(max(0, seq - base)))
                try? await Task.sleep(for: CommandProgress.terminalInterval)
            }
        }
    }
}
