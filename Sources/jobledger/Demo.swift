import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run simulated image jobs through the engine into a fresh log, then verify it.",
        discussion: """
            Submits N jobs of the demo kind 'design' and works them off with W workers: each \
            reports progress, stages a low-resolution preview and a final image, and completes; \
            some attempts fail and are retried. On a terminal it draws a bar per running job and \
            an overall bar; piped, it prints plain lines. Without --db the demo writes \
            ./jobledger-demo.sqlite, replacing the previous demo log.
            """)

    @Option(help: "The log to create (must not exist yet; default ./jobledger-demo.sqlite, replaced each run).") var db: String?
    @Option(help: "How many jobs.") var jobs: Int = 24
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var projections: ProjectionOptions

    func validate() throws {
        guard jobs >= 1, jobs <= 1_000_000 else { throw ValidationError("--jobs must be 1…1000000") }
    }

    func run() async throws {
        try await guarded {
            let sink = try projections.sink()  // a bad AnyCable configuration stops the demo before it writes anything
            let path = try freshPath()
            let ledger = try Ledger.open(path: path)
            let engine = worker.engine(ledger: ledger)
            let tty = isatty(STDOUT_FILENO) != 0
            print("demo: \(jobs) image jobs, \(worker.workers) workers, into \(path)")
            let clock = ContinuousClock()
            let start = clock.now
            for i in 0..<jobs {
                try await engine.submit(kind: DesignHandler.kind, input: ["prompt": .string("poster #\(i + 1)"), "size": 512])
            }
            let display = DemoDisplay(ledger: ledger, total: jobs, tty: tty)
            let ticker = Task { while !Task.isCancelled { display.update(); try? await Task.sleep(for: .milliseconds(100)) } }
            let runner = try projections.runner(ledger: ledger, sink: sink)
            try await runWithSignals(engine: engine, runner: runner, untilIdle: true)
            ticker.cancel()
            display.update()
            let elapsed = start.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let states = try ledger.jobStates().values
            let completed = states.filter { $0.status == .completed }.count
            let failed = states.filter { $0.status == .failed }.count
            let events = try ledger.eventCount()
            let assets = try ledger.assetTotals()
            print("""
                done: \(completed) completed, \(failed) failed, \(display.retried) retried attempts in \(String(format: "%.2f", seconds)) s \
                (\(String(format: "%.1f", Double(jobs) / max(seconds, 1e-6))) jobs/s)
                      \(events) events, \(assets.count) images staged (\(assets.bytes) bytes)
                """)
            let report = try ledger.verify()
            if let p = report.problem {
                print("verify: FAILED at seq \(p.seq): \(p.message)")
                throw ExitCode(1)
            }
            print("verify: \(verifySummary(report, expected: nil))")
            let status = try ledger.projectionStatus()
            let blobs = try ledger.blobURLs().count
            let broadcast = status.first { $0.name == .broadcast }
            print("projections: jobs table at seq \(status[0].checkpoint) of \(status[0].head); \(blobs) artefacts published to \(projections.blobFolder(for: ledger))/; "
                  + "\(broadcast?.sent ?? 0) broadcasts sent (\(broadcast?.coalesced ?? 0) progress coalesced, \(broadcast?.dead ?? 0) dead)")
            print("next: jobledger jobs --db \(path)   ·   jobledger history <JOB> --db \(path)   ·   jobledger replay --check --db \(path)")
        }
    }

    /// The demo log's path: the given one if it does not exist yet; the default one is replaced.
    private func freshPath() throws -> String {
        let fm = FileManager.default
        if let db {
            if fm.fileExists(atPath: db) {
                throw fail("\(db) already exists; the demo writes a fresh log (choose another path, or omit --db)", code: 2)
            }
            return db
        }
        let path = "jobledger-demo.sqlite"
        for suffix in ["", "-wal", "-shm", ".blobs"] where fm.fileExists(atPath: path + suffix) {
            try fm.removeItem(atPath: path + suffix)
        }
        return path
    }
}

/// Follows the log and shows the demo's progress: bars on a terminal, plain lines otherwise.
final class DemoDisplay: @unchecked Sendable {
    let ledger: Ledger
    let total: Int
    let tty: Bool
    let out: FileHandle
    private let lock = NSLock()
    private var fold = LedgerFold()
    private var drawnLines = 0
    private(set) var retried = 0

    init(ledger: Ledger, total: Int, tty: Bool, out: FileHandle = .standardOutput, from seq: Int64 = 1) {
        self.ledger = ledger
        self.total = total
        self.tty = tty
        self.out = out
        // Skip what happened before (a worker joining an old log reports only what it sees now).
        if seq > 1 { try? ledger.forEachEvent { e in _ = try? fold.apply(e) } }
    }

    func update() {
        lock.lock()
        defer { lock.unlock() }
        var lines: [String] = []
        try? ledger.forEachEvent(from: fold.lastSeq + 1) { e in
            guard let s = try? fold.apply(e) else { return }
            let id = String(s.id.rawValue.suffix(8))
            switch e.payload {
            case .started(let st): lines.append("  \(id) attempt \(st.attempt) started on \(st.worker)")
            case .failed(let f):
                if s.status == .queued { retried += 1 }
                lines.append("  \(id) attempt \(f.attempt) failed (\(f.code))\(s.status == .queued ? ", will retry" : ", for good")")
            case .completed: lines.append("  \(id) completed")
            case .canceled: lines.append("  \(id) canceled")
            case .queued, .progress, .lowres: break
            }
        }
        if !tty {
            if !lines.isEmpty { out.write(Data((lines.joined(separator: "\n") + "\n").utf8)) }
            return
        }
        var out = ""
        if drawnLines > 0 { out += "\u{1B}[\(drawnLines)F\u{1B}[J" }  // back to the top of the last frame, clear below
        let done = total - fold.active.count
        var frame = ["  all jobs  \(bar(Double(done) / Double(max(total, 1)), width: 30)) \(done)/\(total)"]
        for j in fold.active.values.filter({ $0.status == .running }).sorted(by: { $0.id < $1.id }).prefix(12) {
            frame.append("  …\(j.id.rawValue.suffix(8))  \(bar(j.progress, width: 20)) \(Int(j.progress * 100))% attempt \(j.attempt) \(j.progressMessage ?? "")")
        }
        out += frame.joined(separator: "\n") + "\n"
        drawnLines = frame.count
        self.out.write(Data(out.utf8))
    }

    private func bar(_ fraction: Double, width: Int) -> String {
        let filled = max(0, min(width, Int((fraction * Double(width)).rounded())))
        return String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
    }
}
