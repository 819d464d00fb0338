import Foundation
import JobLedger
import JobLedgerBenchmarks

/// `bench --only restart`: an engine restarted on a long log, first with no snapshot (it folds
/// the whole log), then from the snapshot the first run stored.
extension Bench {
    struct RestartStart {
        var firstClaimSeconds: Double
        var peakMB: Double
        var snapshotSeq: Int64
    }

    /// Builds the log, then runs the two starts in child processes.
    func engineRestart(directory: URL) async throws -> (cold: RestartStart, warm: RestartStart) {
        printErr("bench: writing a log of \(restartEvents) events of finished jobs and \(Self.restartQueued) queued jobs …")
        let writing = CommandProgress("  writing", total: restartEvents, display: CommandProgress.Display.current == .terminal ? .terminal : .off)
        try await EngineRestartBench.buildLog(directory: directory, events: restartEvents, queued: Self.restartQueued) { written in writing.update(written) }
        writing.finish()
        printErr("bench: an engine starts on it with no snapshot, in a child process …")
        let cold = try restartChild(directory)
        try await EngineRestartBench.queueMore(directory: directory, jobs: Self.restartQueued)
        printErr("bench: a new engine starts from the snapshot the first one stored, in a child process …")
        let warm = try restartChild(directory)
        guard warm.snapshotSeq > 0 else { throw fail("the first engine stored no snapshot", code: 1) }
        return (cold, warm)
    }

    /// Queued jobs before each start.
    static let restartQueued = 1000

    private func restartChild(_ directory: URL) throws -> RestartStart {
        let json = try child(["bench", "--engine-restart-child", directory.path], what: "the engine restart")
        guard let first = json["first_claim_s"]?.doubleValue, let kb = json["maxrss_kb"]?.intValue, let seq = json["snapshot_seq"]?.intValue,
              json["finished"]?.boolValue == true
        else { throw fail("the engine restart child process reported nothing usable", code: 1) }
        return RestartStart(firstClaimSeconds: first, peakMB: Double(kb) / 1024, snapshotSeq: seq)
    }

    /// The child side of `engineRestart`.
    func engineRestartChildRun(_ directory: String) async throws {
        let r = try await EngineRestartBench.start(directory: URL(fileURLWithPath: directory), queued: Self.restartQueued)
        print("{\"first_claim_s\":\(r.firstClaimSeconds),\"snapshot_seq\":\(r.snapshotSeq),\"finished\":\(r.finished),\"maxrss_kb\":\(LedgerBenchmarks.ownPeakResidentKilobytes())}")
    }

    /// The rows it prints: both starts, with the targets of the million-job backlog (first
    /// claim < 2 s, peak < 300 MB) for the start from the snapshot.
    func restartRows(_ r: (cold: RestartStart, warm: RestartStart)) -> [[String]] {
        func row(_ name: String, _ s: RestartStart, target: Bool) -> [String] {
            let ok = s.firstClaimSeconds < 2 && s.peakMB < 300
            return [name, "\(restartEvents)", String(format: "first claim %.2f s", s.firstClaimSeconds), String(format: "peak %.0f MB", s.peakMB), "",
                    target ? "< 2 s, < 300 MB" : "", target ? (ok ? "ok" : "OVER TARGET") : ""]
        }
        return [row("engine start on a long log, no snapshot (folds it all)", r.cold, target: false),
                row("engine start on a long log, from its snapshot", r.warm, target: true)]
    }

    func restartJSON(_ r: (cold: RestartStart, warm: RestartStart)) -> [JSONValue] {
        [("no snapshot", r.cold), ("from snapshot", r.warm)].map { name, s in
            .object(["name": .string("engine restart"), "start": .string(name), "events": .int(Int64(restartEvents)),
                     "first_claim_s": .double((s.firstClaimSeconds * 1000).rounded() / 1000),
                     "peak_rss_mb": .double((s.peakMB * 10).rounded() / 10), "snapshot_seq": .int(s.snapshotSeq)])
        }
    }
}
