import ArgumentParser
import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerUpstash
import Synchronization

struct Demo: AsyncParsableCommand, TakesLogLevel {
    static let configuration = CommandConfiguration(
        abstract: "Run simulated image jobs through the engine into a fresh log, then verify it.",
        discussion: """
            Submits N jobs of the demo kind 'design' and works them off with W workers: each \
            reports progress, stages a low-resolution preview and a final image, and completes; \
            some attempts fail and are retried. On a terminal it draws a bar per running job and \
            an overall bar; piped, it prints plain lines. Without --db the demo writes \
            ./jobledger-demo.sqlite, replacing the previous demo log.
            """)

    @Option(help: "The log to create (must not exist yet; a missing folder is made; default ./jobledger-demo.sqlite, replaced each run, also when named here).") var db: String?
    @Option(help: "How many jobs, \(OptionRanges.jobs.bounds) (each stages two images: about 50 KB of disk a job, 25 KB in the log and about as much for the published images; `bench --only engine` times large backlogs).") var jobs: Int = 24
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var projections: ProjectionOptions
    @OptionGroup var storage: StorageWaitOptions
    @OptionGroup var intake: IntakeOptions
    @OptionGroup var logging: LogLevelOptions

    func validate() throws {
        try LogOptions.checkPath(db, option: "--db")
        try OptionRanges.jobs.check(jobs)
        _ = try maxPageCountFromEnvironment()
    }

    func run() async throws {
        KnownEnvironment.warnAboutUnknown()
        try await guarded {
            await CommandInterrupt.install("before the demo began: nothing was run")
            // A bad AnyCable, Vercel Blob or Upstash configuration (or a refused token) stops the demo
            // before it writes anything.
            let sink = try projections.sink()
            let blobStore = try projections.blobStore()
            let upstash = try intake.upstashConfiguration(projections)
            let feed = try await intake.make(upstash, projections: projections)
            try await projections.checkStatusCache(upstash)
            let path = try freshPath()
            var configuration = LedgerConfiguration()
            configuration.maxPageCount = try maxPageCountFromEnvironment()
            let storageWait = storage.bound(oneShot: true)!
            let ledger = try await waitingOutStorageFaults(storageWait) { try Ledger.open(path: path, configuration: configuration) }
            defer { closeLog(ledger) }
            let engine = worker.engine(ledger: ledger, storageWait: storageWait)
            let tty = isatty(STDOUT_FILENO) != 0
            print("demo: \(jobs) image jobs, \(worker.workers) workers, into \(path)")
            // The job lines are written to the descriptor as they come: the header goes out
            // first even when stdout is a file or a pipe (where `print` waits in a buffer).
            flushStandardOutput()
            let clock = ContinuousClock()
            let start = clock.now
            if let upstash, feed != nil {
                // As the web app does: one XADD per job on the stream, which the worker then takes in.
                let redis = projections.upstashClient(upstash)
                let run = UUID().uuidString.prefix(8)
                let adds = (0..<jobs).map { i in
                    ["XADD", upstash.stream, "*", "input", JSONValue.object(["prompt": .string("poster #\(i + 1)"), "size": 512]).canonicalText,
                     "kind", DesignHandler.kind, "idempotency_key", "demo-\(run)-\(i + 1)"]
                }
                do {
                    for r in try await redis.pipeline(adds, idempotent: false) { _ = try r.get() }
                } catch {
                    throw fail("could not add the demo's jobs to \(upstash.stream): \(error)", code: 6)
                }
                print("demo: \(jobs) entries added to the Upstash stream \(upstash.stream)")
            } else {
                CommandInterrupt.now("while queueing the demo's jobs: nothing was run; the jobs queued so far stay in \(path)")
                for i in 0..<jobs {
                    try await waitingOutStorageFaults(storageWait, nothingLost: "the jobs submitted so far stay in the log") {
                        try await engine.submit(kind: DesignHandler.kind, input: ["prompt": .string("poster #\(i + 1)"), "size": 512])
                    }
                }
            }
            let display = DemoDisplay(ledger: ledger, total: jobs, tty: tty)
            let ticker = Task { while !Task.isCancelled { display.update(); try? await Task.sleep(for: .milliseconds(100)) } }
            let runner = try projections.runner(ledger: ledger, sink: sink, blobs: blobStore, upstash: upstash, storageWait: storageWait)
            let left = try await runWithSignals(engine: engine, runner: runner, untilIdle: true, intake: feed)
            ticker.cancel()
            display.update()
            let elapsed = start.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            // Counted by folding the log, which holds only the jobs in flight (and failed ones)
            // whole: a dictionary of every job's state held ~6 KB a job to the end.
            var fold = LedgerFold()
            try ledger.forEachEvent { try fold.apply($0) }
            let completed = fold.finished.values.count { $0.status == .completed }
            let failed = fold.failed.count
            // A SIGINT/SIGTERM stopped the engine before every job had finished.
            let unfinished = stoppedEarly.load(ordering: .relaxed) ? fold.activeCount : 0
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
            print("projections: jobs table at seq \(status[0].checkpoint) of \(status[0].head); \(blobs) artefacts published to \(blobStore.place(for: ledger)); "
                  + "\(broadcast?.sent ?? 0) broadcasts sent (\(broadcast?.coalesced ?? 0) progress coalesced, \(broadcast?.dead ?? 0) dead)")
            if let cache = status.first(where: { $0.name == UpstashStatusCache.projectionName }), let upstash {
                print("status cache: \(cache.sent) writes to the Upstash hashes \(upstash.stream):<id> (\(cache.coalesced) progress coalesced, \(cache.dead) dead)")
            }
            let owed = reportOwedEffects(left, path: path) { print($0) }
            if unfinished > 0 {
                print("interrupted: \(unfinished) of \(fold.jobCount) jobs not finished (queued, or back in the queue); "
                      + "`jobledger work --db \(path) --until-idle` finishes them")
                throw ExitCode(130)
            }
            print("next: jobledger jobs --db \(path)   ·   jobledger history <JOB> --db \(path)   ·   jobledger replay --check --db \(path)")
            if owed != 0 { throw ExitCode(owed) }
        }
    }

    /// `mkdir -p folder`: nil when every folder on the way exists or was made, else the first one
    /// that could not be made and why ("/srv/x: Permission denied").
    private func makeFolders(_ folder: String) -> String? {
        var path = folder.hasPrefix("/") ? "/" : ""
        for component in folder.split(separator: "/") {
            path += (path.isEmpty || path.hasSuffix("/") ? "" : "/") + component
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
                if !isFolder.boolValue { return "\(path) is a file, not a folder" }
                continue
            }
            if mkdir(path, 0o777) != 0, errno != EEXIST { return "\(path): \(String(cString: strerror(errno)))" }
        }
        return nil
    }

    /// The default demo log, replaced by each run.
    static let defaultPath = "jobledger-demo.sqlite"

    /// The demo log's path: the given one if it does not exist yet; the default one is replaced,
    /// also when `--db` names it (`./jobledger-demo.sqlite`, or its full path).
    private func freshPath() throws -> String {
        let fm = FileManager.default
        if let db, !Self.isDefaultPath(db) {
            if fm.fileExists(atPath: db) {
                throw fail("\(db) already exists; the demo writes a fresh log (choose another path, or omit --db)", code: 2)
            }
            // A fresh log may go into a fresh folder: make it, or say which one cannot be made.
            let folder = (db as NSString).deletingLastPathComponent
            if !folder.isEmpty, let reason = makeFolders(folder) {
                throw fail("cannot create the folder \(folder) for the demo log \(db): \(reason)", code: 6)
            }
            return db
        }
        let path = Self.defaultPath
        // Two demos started at once both found the log unused, and one removed what the other
        // was removing ("The file doesn't exist", exit 1): the folder is locked while a demo
        // replaces the log and runs (the lock goes with the process).
        let folderLock = open(".", O_RDONLY | O_CLOEXEC)
        // Only a lock held elsewhere refuses: a file system without locks (ENOLCK on NFS) goes on without.
        if folderLock >= 0, flock(folderLock, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK {
            throw fail("another jobledger demo is running in this folder, on \(path): let it finish, or give --db a new path", code: 5)
        }
        // Deleted under a process that has it open (a `serve`, another demo), the log vanished
        // for that process for good (503 "vanished"; two demos at once ended each other's run).
        if let pid = processUsingLog(path) {
            throw fail("\(path) is in use by another process (pid \(pid)), and the demo replaces it only when no process has it open: "
                       + "stop that process, or give --db a new path", code: 5)
        }
        for suffix in ["", "-wal", "-shm", ".blobs"] where fm.fileExists(atPath: path + suffix) {
            do { try fm.removeItem(atPath: path + suffix) } catch {
                throw fail("cannot remove the previous demo log's \(path + suffix): \((error as NSError).localizedDescription)", code: 6)
            }
        }
        return path
    }

    /// Whether `path` names the default demo log in the working folder, however it is spelt.
    static func isDefaultPath(_ path: String) -> Bool {
        func resolved(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        return resolved(path) == resolved(defaultPath)
    }
}

/// Follows the log and shows the demo's progress: bars on a terminal, plain lines otherwise.
///
/// `update()` may run from several tasks at once (the ticker, and the final update after it was
/// cancelled): it reads the new events with no lock held, then takes the lock only to fold them
/// into the display state and write what they show, so output stays in log order and no log
/// scan ever waits on (or holds up) another update.
///
/// It keeps only the jobs in flight that it has seen an event of since `from`: a job that began
/// before is read from its own events when its first event after `from` comes (a worker joining
/// a log reads neither the log's past nor its backlog), and a finished job is dropped. (It
/// folded the whole log when it started, and kept every job it had seen: `work` on a backlog of
/// 200,000 queued jobs held about 300 MB more than its engine, and a long-running `work` grew
/// by an entry for every job it ever saw.)
final class DemoDisplay: Sendable {
    let ledger: Ledger
    let total: Int
    let tty: Bool
    /// STDOUT_FILENO or STDERR_FILENO.
    let out: Int32
    private struct State {
        /// The jobs in flight (queued or running) as of `lastSeq`, of those seen since `from`.
        var active: [JobID: JobState] = [:]
        /// The `seq` of the last event taken in.
        var lastSeq: Int64
        var drawnLines = 0
        var outcomes = WorkOutcomes()
    }
    private let state: Mutex<State>
    /// Only the outcomes of this worker's attempts are counted (nil: everyone's).
    let worker: String?
    /// Whether a line is written per event when not on a terminal (`work --quiet`: none;
    /// the outcomes are counted all the same).
    let eventLines: Bool

    /// Attempts that failed and were queued again, so far.
    var retried: Int { state.withLock { $0.outcomes.retried } }
    /// What the attempts came to, so far.
    var outcomes: WorkOutcomes { state.withLock { $0.outcomes } }

    init(ledger: Ledger, total: Int, tty: Bool, out: Int32 = STDOUT_FILENO, from seq: Int64 = 1, worker: String? = nil, eventLines: Bool = true) {
        self.ledger = ledger
        self.total = total
        self.tty = tty
        self.out = out
        self.worker = worker
        self.eventLines = eventLines
        // What happened before `seq` is not shown (a worker joining an old log reports only what it sees now).
        state = Mutex(State(lastSeq: max(seq, 1) - 1))
    }

    func update() {
        // Read first, without the lock: everything after what the display has already shown,
        // and how the jobs it has not seen yet stood before their first new event.
        let after = state.withLock { $0.lastSeq }
        var events: [StoredEvent] = []
        try? ledger.forEachEvent(from: after + 1) { events.append($0) }
        let unseen = state.withLock { s in
            // A job whose first event is earlier in this batch is folded from it: not read.
            var first: [JobID: Int] = [:], begun: Set<JobID> = []
            for e in events {
                if e.version == 1 { begun.insert(e.job); continue }
                if s.active[e.job] == nil, first[e.job] == nil, !begun.contains(e.job) { first[e.job] = e.version }
            }
            return first
        }
        var before: [JobID: JobState] = [:]
        for (job, version) in unseen { before[job] = stateOf(job, before: version) }
        // Then fold and draw under the lock (another update may have taken some of them in).
        state.withLock { s in
            var lines: [String] = []
            for e in events where e.seq > s.lastSeq {
                s.lastSeq = e.seq
                // The state this event follows (none for a job's first): one known at the version before.
                let prior = e.version == 1 ? nil : [s.active[e.job], before[e.job]].lazy.compactMap { $0 }.first { $0.version == e.version - 1 }
                guard e.version == 1 || prior != nil,
                      let js = try? Lifecycle.apply(e.payload, to: prior, job: e.job, at: e.recordedAt) else { continue }
                s.active[e.job] = js.status.isTerminal ? nil : js
                // A cancel of a queued job ran on no worker; one of a running job on its worker.
                if worker == nil || prior?.worker == worker {
                    s.outcomes.count(e.payload, after: js)
                } else if case .failed(let f) = e.payload, f.code == "lease_expired", js.status == .queued {
                    // Requeued for another attempt (which this worker, or another, runs).
                    s.outcomes.recovered += 1
                }
                let id = String(js.id.rawValue.suffix(8))
                switch e.payload {
                case .started(let st): lines.append("  \(id) attempt \(st.attempt) started on \(st.worker)")
                case .failed(let f):
                    lines.append("  \(id) attempt \(f.attempt) failed (\(f.code))\(js.status == .queued ? ", will retry" : ", for good")")
                case .completed: lines.append("  \(id) completed")
                case .canceled: lines.append("  \(id) canceled")
                case .queued, .progress, .lowres: break
                }
            }
            if !tty {
                if eventLines, !lines.isEmpty { writeQuietly(lines.joined(separator: "\n") + "\n", to: out) }
                return
            }
            var text = ""
            if s.drawnLines > 0 { text += "\u{1B}[\(s.drawnLines)F\u{1B}[J" }  // back to the top of the last frame, clear below
            let done = total - s.active.count
            var frame = ["  all jobs  \(bar(Double(done) / Double(max(total, 1)), width: 30)) \(done)/\(total)"]
            for j in s.active.values.filter({ $0.status == .running }).sorted(by: { $0.id < $1.id }).prefix(12) {
                frame.append("  …\(j.id.rawValue.suffix(8))  \(bar(j.progress, width: 20)) \(Int(j.progress * 100))% attempt \(j.attempt) \(j.progressMessage ?? "")")
            }
            text += frame.joined(separator: "\n") + "\n"
            s.drawnLines = frame.count
            writeQuietly(text, to: out)
        }
    }

    /// The job as it stood before its event at `version`, folded from its own events; nil when
    /// they cannot be read.
    private func stateOf(_ job: JobID, before version: Int) -> JobState? {
        var s: JobState?
        do {
            try ledger.forEachEvent(of: job) { e in
                if e.version < version { s = try Lifecycle.apply(e.payload, to: s, job: job, at: e.recordedAt) }
            }
        } catch { return nil }
        return s
    }

    private func bar(_ fraction: Double, width: Int) -> String {
        let f = fraction.isFinite ? max(0, min(1, fraction)) : 0  // Int(nan) would trap
        let filled = Int((f * Double(width)).rounded())
        return String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
    }
}
