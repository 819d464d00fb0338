import ArgumentParser
import Foundation
import JobLedger
import JobLedgerBenchmarks
import JobLedgerSQLite

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the log against raw SQLite doing the same work in the same run (use a release build).",
        discussion: """
            Prints events/s for ours and raw SQLite and the ratio ours/raw, with the target for each: \
            live appends (≥ 0.8), 64 concurrent tasks with group commit (≥ 0.5), replay into job \
            states (≥ 0.25), the peak memory of a replay of --replay-events events (< 100 MB, \
            measured in a child process), the engine burn-down for each backlog of --engine-jobs (each in a \
            child process: jobs/s and its ratio to raw SQLite writing the same rows (≥ 0.6 at the smallest \
            backlog; every larger backlog at ≥ 0.8 of the smallest's rate), the peak memory (< 300 MB) and the time \
            from the engine's start to its first claim (< 2 s); backlogs up to 10000 jobs are measured three \
            times, in turn with the raw side, and the medians compared), rebuilding the jobs \
            table (≥ 0.2 of a raw scan), broadcasting to the in-process hub (msgs/s), and AnyCable \
            broadcasts to the local stand-in (batches of 100 ≥ 10000 msgs/s; one per request; the \
            whole pipeline), Upstash against its local stand-in and a redis-server (stream intake \
            ≥ 5000 entries/s; status-cache writes ≥ 5000/s), and 50 KiB previews uploaded to the local Vercel Blob stand-in through the \
            blob store next to bare HTTP PUTs of the same bodies (ratio ≥ 0.8). Build with: swift build -c release --product jobledger
            """)

    @Option(help: "Events for each append benchmark, split over 10 rounds, \(OptionRanges.events.bounds).") var events: Int = 100_000
    @Option(help: "Events in the log replayed for throughput and peak memory, \(OptionRanges.replayEvents.bounds).") var replayEvents: Int = 1_000_000
    @Option(help: "Concurrent appending tasks for the group-commit benchmark, \(OptionRanges.tasks.bounds).") var tasks: Int = 64
    @Option(help: "Keep the benchmark logs in a fresh folder inside this directory (default: a temporary folder, removed afterwards); the engine burn-down's logs are removed once each backlog is measured (a million jobs' logs take gigabytes).") var dir: String?
    @Flag(help: "Print the results as JSON.") var json = false
    @Option(help: .hidden) var replayChild: String?
    @Option(help: "Run only one part.") var only: BenchPart?
    @Option(help: "Messages in the AnyCable broadcast benchmark, \(OptionRanges.anycableMessages.bounds).") var anycableMessages: Int = 20_000
    @Option(help: "The AnyCable stand-in script (started on a free loopback port).") var standin: String = "Fixtures/anycable/standin.py"
    @Option(help: "Stream entries in the Upstash benchmark, \(OptionRanges.upstashEntries.bounds).") var upstashEntries: Int = 20_000
    @Option(help: "The Upstash stand-in script (starts redis-server on a free loopback port).") var upstashStandin: String = "Fixtures/upstash/standin.py"
    @Option(help: "Events in the log the projection benchmarks rebuild and broadcast, \(OptionRanges.projectionEvents.bounds).") var projectionEvents: Int = 200_000
    @Option(help: "Backlogs of the engine burn-down, comma-separated, each \(OptionRanges.engineJobs.bounds).") var engineJobs: String = "5000,100000,1000000"
    @Option(help: .hidden) var engineChild: String?
    @Option(help: .hidden) var engineBacklog: String?
    @Option(help: .hidden) var engineRestartChild: String?
    @Option(help: "Events of finished jobs in the log of the engine-restart benchmark (only with --only restart), \(OptionRanges.restartEvents.bounds).") var restartEvents: Int = 10_000_000
    @Option(help: "50 KiB previews in each round of the Vercel Blob benchmark, \(OptionRanges.blobUploads.bounds).") var blobUploads: Int = 400
    @Option(help: "Uploads in flight at once in the Vercel Blob benchmark, \(OptionRanges.blobParallelism.bounds).") var blobParallelism: Int = 8
    @Option(help: "The Vercel Blob stand-in script (started on a free loopback port).") var blobStandin: String = "Fixtures/vercel-blob/standin.py"
    @Option(help: "Workers in the engine burn-down, \(OptionRanges.engineWorkers.bounds).") var engineWorkers: Int = 64

    func validate() throws {
        try OptionRanges.events.check(events)
        try OptionRanges.replayEvents.check(replayEvents)
        try OptionRanges.tasks.check(tasks)
        try OptionRanges.anycableMessages.check(anycableMessages)
        try OptionRanges.upstashEntries.check(upstashEntries)
        try OptionRanges.projectionEvents.check(projectionEvents)
        for n in try backlogs() { try OptionRanges.engineJobs.check(n) }
        try OptionRanges.engineWorkers.check(engineWorkers)
        try OptionRanges.restartEvents.check(restartEvents)
        try OptionRanges.blobUploads.check(blobUploads)
        try OptionRanges.blobParallelism.check(blobParallelism)
    }

    func run() async throws {
        if let path = replayChild { try replayChildRun(path); return }
        if let directory = engineChild { try await engineChildRun(directory); return }
        if let directory = engineRestartChild { try await engineRestartChildRun(directory); return }
        if let directory = engineBacklog {
            let seconds = try await EngineBench.makeBacklog(directory: URL(fileURLWithPath: directory), jobs: try backlogs()[0], tasks: engineWorkers)
            print("{\"seconds\":\(seconds)}")
            return
        }
        try await guarded { try await measure() }
    }

    /// Why a benchmark appends another number of events than `--events` asked for: it appends
    /// whole lifecycles of 6 events, as many in each round (and task), at least one; the header
    /// said the number asked for, and its table the number appended.
    static func roundedUp(_ n: Int, asked: Int) -> String {
        n == asked ? "" : " (--events \(asked) in whole 6-event lifecycles, the same number in each round, at least one)"
    }

    private func measure() async throws {
        #if DEBUG
        printErr("jobledger: warning: this is a debug build; figures are meaningless (swift build -c release --product jobledger)")
        #endif
        let fm = FileManager.default
        // Always a fresh directory (inside --dir when given), so runs never meet old logs.
        let parent = dir.map { URL(fileURLWithPath: $0) } ?? fm.temporaryDirectory
        let directory = parent.appendingPathComponent("jobledger-bench-\(UUID().uuidString)")
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if dir == nil { try? fm.removeItem(at: directory) } }
        let config = LedgerConfiguration()

        var comparisons: [LedgerBenchmarks.Comparison] = []
        if only == nil || only == .live {
            let n = LedgerBenchmarks.liveAppendEvents(asked: events)
            note("live appends: \(n) events, one per transaction\(Self.roundedUp(n, asked: events)) …")
            comparisons.append(try await LedgerBenchmarks.liveAppends(directory: directory, events: events, configuration: config))
        }
        if only == nil || only == .group {
            let n = LedgerBenchmarks.groupCommitEvents(asked: events, tasks: tasks)
            note("group commit: \(n) events from \(tasks) tasks\(Self.roundedUp(n, asked: events)) …")
            comparisons.append(try await LedgerBenchmarks.groupCommit(directory: directory, events: events, tasks: tasks, configuration: config))
        }
        var peak: (events: Int, mb: Double)?
        if only == nil || only == .replay {

        let replayPath = directory.appendingPathComponent("replay.sqlite").path
        note("writing a log of \(replayEvents) events to replay …")
        let writing = CommandProgress("  writing", total: replayEvents, display: CommandProgress.Display.current == .terminal ? .terminal : .off)
        try await LedgerBenchmarks.buildLog(path: replayPath, events: replayEvents, configuration: config) { written in writing.update(written) }
        writing.finish()
        note("replaying \(replayEvents) events …")
        let scan = try LedgerBenchmarks.rawScan(path: replayPath)
        let replay = try LedgerBenchmarks.replay(path: replayPath)
        comparisons.append(.init(name: "replay into job states vs raw scan", events: replay.events,
                                 ours: Double(replay.events) / replay.seconds, raw: Double(scan.events) / scan.seconds, target: 0.25))
        note("peak memory of a replay in a child process …")
        peak = try peakReplayMemory(path: replayPath)
        }

        var burns: [EngineBench.Result] = []
        if only == nil || only == .engine {
            for jobs in try backlogs() {
                // A backlog that burns down in about a second is measured `rounds` times, ours
                // and the raw ceiling in turn, and the medians compared: on a busy two-core
                // machine one pair of runs may differ by a fifth either way.
                let rounds = jobs <= Self.repeatedBacklog ? 3 : 1
                var runs: [EngineBench.Result] = []
                var ceilings: [(jobsPerSecond: Double, rowsPerSecond: Double)] = []
                for round in 1...rounds {
                    let of = rounds > 1 ? " (round \(round) of \(rounds))" : ""
                    note("engine burn-down: \(jobs) no-op jobs, \(engineWorkers) workers, in a child process\(of) …")
                    runs.append(try engineBurnDown(directory: directory, jobs: jobs))
                    note("raw SQLite ceiling for the same writes\(of) …")
                    ceilings.append(try LedgerBenchmarks.rawBurnDownCeiling(directory: directory, jobs: jobs, lanes: engineWorkers, configuration: config))
                    // A million jobs' logs take gigabytes: each backlog's go once measured.
                    for name in ["engine-\(jobs).sqlite", "engine-raw-\(jobs).sqlite"] {
                        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(at: directory.appendingPathComponent(name + suffix)) }
                    }
                }
                var burn = runs.sorted { $0.jobsPerSecond < $1.jobsPerSecond }[runs.count / 2]
                burn.peakResidentMB = runs.map(\.peakResidentMB).max() ?? burn.peakResidentMB
                burn.firstClaimSeconds = runs.map(\.firstClaimSeconds).max() ?? burn.firstClaimSeconds
                let ceiling = ceilings.sorted { $0.jobsPerSecond < $1.jobsPerSecond }[ceilings.count / 2]
                burn.rawJobsPerSecond = ceiling.jobsPerSecond
                burn.rawRowsPerSecond = ceiling.rowsPerSecond
                burn.rounds = rounds
                burns.append(burn)
            }
        }
        let smallest = burns.min { $0.jobs < $1.jobs }

        // Not part of a run of everything: its log takes minutes to write and gigabytes of disk.
        var restart: (cold: RestartStart, warm: RestartStart)?
        if only == .restart { restart = try await engineRestart(directory: directory) }

        var projection: ProjectionBench.Result?
        if only == nil || only == .projections {
            let path = directory.appendingPathComponent("projections.sqlite").path
            note("writing a log of \(projectionEvents) events, then rebuilding its jobs table and broadcasting it …")
            try await LedgerBenchmarks.buildLog(path: path, events: projectionEvents, configuration: config) { _ in }
            projection = try await ProjectionBench.run(path: path, events: projectionEvents)
            comparisons.append(projection!.rebuild)
        }

        var anycable: AnyCableBench.Result?
        if only == nil || only == .anycable {
            if FileManager.default.fileExists(atPath: standin) {
                note("AnyCable broadcast to the local stand-in: \(anycableMessages) messages …")
                anycable = try await AnyCableBench.run(script: standin, directory: directory, messages: anycableMessages, batchSize: 100)
            } else if only == .anycable {
                throw fail("no AnyCable stand-in at \(standin): run from the repository root, or pass --standin PATH", code: 2)
            } else {
                note("skipping the AnyCable benchmark: no stand-in at \(standin) (run from the repository root, or pass --standin)")
            }
        }

        var upstash: UpstashBench.Result?
        if only == nil || only == .upstash {
            if FileManager.default.fileExists(atPath: upstashStandin) {
                note("Upstash stand-in: \(upstashEntries) stream entries taken in, then their status hashes …")
                upstash = try await UpstashBench.run(script: upstashStandin, directory: directory, entries: upstashEntries)
            } else if only == .upstash {
                throw fail("no Upstash stand-in at \(upstashStandin): run from the repository root, or pass --upstash-standin PATH", code: 2)
            } else {
                note("skipping the Upstash benchmark: no stand-in at \(upstashStandin) (run from the repository root, or pass --upstash-standin)")
            }
        }

        var blobs: BlobsBench.Result?
        if only == nil || only == .blobs {
            if FileManager.default.fileExists(atPath: blobStandin) {
                note("Vercel Blob uploads to the local stand-in: \(blobUploads) × 50 KiB, \(blobParallelism) at a time, against bare PUTs …")
                blobs = try await BlobsBench.run(script: blobStandin, uploads: blobUploads, parallelism: blobParallelism)
            } else if only == .blobs {
                throw fail("no Vercel Blob stand-in at \(blobStandin): run from the repository root, or pass --blob-standin PATH", code: 2)
            } else {
                note("skipping the Vercel Blob benchmark: no stand-in at \(blobStandin) (run from the repository root, or pass --blob-standin)")
            }
        }

        if json {
            var items: [JSONValue] = comparisons.map { c in
                .object(["name": .string(c.name), "events": .int(Int64(c.events)), "ours_events_per_s": .int(Int64(c.ours)),
                         "raw_events_per_s": .int(Int64(c.raw)), "ratio": .double((c.ratio * 1000).rounded(.down) / 1000),
                         "target_ratio": .double(c.target), "meets_target": .bool(c.meetsTarget),
                         "our_transactions": .int(Int64(c.transactions))])
            }
            if let peak {
                items.append(.object(["name": .string("replay peak memory"), "events": .int(Int64(peak.events)),
                                      "peak_rss_mb": .double((peak.mb * 10).rounded() / 10), "target_mb": .int(100), "meets_target": .bool(peak.mb < 100)]))
            }
            for b in burns {
                let relative = b.jobsPerSecond / max(smallest?.jobsPerSecond ?? 1, 1)
                items.append(.object(["name": .string("engine burn-down"), "jobs": .int(Int64(b.jobs)), "workers": .int(Int64(b.workers)),
                                      "jobs_per_s": .int(Int64(b.jobsPerSecond)), "events_per_s": .int(Int64(b.eventsPerSecond)),
                                      "raw_ceiling_jobs_per_s": .int(Int64(b.rawJobsPerSecond)), "raw_ceiling_rows_per_s": .int(Int64(b.rawRowsPerSecond)),
                                      "ratio_to_raw_ceiling": .double((b.ratioToRawCeiling * 1000).rounded() / 1000),
                                      "ratio_to_smallest_backlog": .double((relative * 1000).rounded() / 1000),
                                      "peak_rss_mb": .double((b.peakResidentMB * 10).rounded() / 10),
                                      "first_claim_s": .double((b.firstClaimSeconds * 1000).rounded() / 1000), "rounds": .int(Int64(b.rounds)),
                                      "meets_target": .bool(Self.burnDownMeetsTargets(b, smallest: smallest))]))
            }
            if let restart { items += restartJSON(restart) }
            if let p = projection {
                items.append(.object(["name": .string("broadcast to the in-process hub"), "messages": .int(Int64(p.broadcastMessages)),
                                      "received": .int(Int64(p.received)), "messages_per_s": .int(Int64(p.messagesPerSecond))]))
            }
            if let a = anycable {
                items.append(.object(["name": "anycable broadcast, batches of 100", "messages": .int(Int64(a.batched.messages)),
                                      "messages_per_s": .int(Int64(a.batched.perSecond)), "target_messages_per_s": 10_000,
                                      "meets_target": .bool(a.batched.perSecond >= 10_000)]))
                items.append(.object(["name": "anycable broadcast, one per request", "messages": .int(Int64(a.single.messages)),
                                      "messages_per_s": .int(Int64(a.single.perSecond))]))
                items.append(.object(["name": "anycable pipeline, log to outbox to stand-in", "messages": .int(Int64(a.pipeline.messages)),
                                      "messages_per_s": .int(Int64(a.pipeline.perSecond)), "stand_in_received": .int(Int64(a.received))]))
            }
            if let u = upstash {
                items.append(.object(["name": "upstash stream intake (entries to committed, acknowledged queued events)", "entries": .int(Int64(u.entries)),
                                      "entries_per_s": .int(Int64(u.intakePerSecond)), "target_entries_per_s": 5_000,
                                      "meets_target": .bool(u.intakePerSecond >= 5_000), "pending_after": .int(u.pendingAfter)]))
                items.append(.object(["name": "upstash status-cache writes (pipelined)", "writes": .int(Int64(u.statusWrites)),
                                      "writes_per_s": .int(Int64(u.statusPerSecond)), "target_writes_per_s": 5_000,
                                      "meets_target": .bool(u.statusPerSecond >= 5_000)]))
            }
            if let b = blobs {
                items.append(.object(["name": "vercel blob uploads vs bare PUTs", "uploads": .int(Int64(b.ours.uploads)),
                                      "body_bytes": .int(Int64(b.bodyBytes)), "parallelism": .int(Int64(b.parallelism)),
                                      "ours_uploads_per_s": .int(Int64(b.ours.perSecond)), "ours_mib_per_s": .double((b.ours.mibPerSecond * 10).rounded() / 10),
                                      "bare_puts_per_s": .int(Int64(b.bare.perSecond)), "bare_mib_per_s": .double((b.bare.mibPerSecond * 10).rounded() / 10),
                                      "ratio": .double((b.ratio * 1000).rounded(.down) / 1000), "target_ratio": 0.8,
                                      "meets_target": .bool(b.ratio >= 0.8), "stand_in_stored": .int(Int64(b.stored))]))
            }
            print(JSONValue.object(["benchmarks": .array(items)]).canonicalText)
            return
        }
        var rows: [[String]] = []
        for c in comparisons {
            rows.append([c.name, c.transactions > 0 ? "\(c.events) in \(c.transactions) txns" : "\(c.events)", "\(Int(c.ours))/s", "\(Int(c.raw))/s", String(format: "%.2f", (c.ratio * 100).rounded(.down) / 100),
                         "≥ \(c.target)", c.meetsTarget ? "ok" : "BELOW TARGET"])
        }
        if let peak { rows.append(["replay peak memory (child process)", "\(peak.events)", String(format: "%.1f MB", peak.mb), "", "", "< 100 MB", peak.mb < 100 ? "ok" : "OVER TARGET"]) }
        for b in burns {
            let target = b.jobs == smallest?.jobs ? "≥ 0.6" : "≥ 0.8 × \(smallest!.jobs)'s"
            rows.append(["engine burn-down, \(b.jobs) jobs, \(b.workers) workers (no-op)", "\(b.events) (\(Int(b.eventsPerSecond))/s)", "\(Int(b.jobsPerSecond)) jobs/s",
                         "\(Int(b.rawJobsPerSecond)) jobs/s", String(format: "%.2f", b.ratioToRawCeiling), target,
                         (Self.burnDownMeetsTargets(b, smallest: smallest) ? "ok" : "BELOW TARGET")
                            + String(format: "; peak %.0f MB, first claim %.2f s", b.peakResidentMB, b.firstClaimSeconds)
                            + (b.rounds > 1 ? "; medians of \(b.rounds) rounds" : "")])
        }
        if let restart { rows += restartRows(restart) }
        if let p = projection {
            rows.append(["broadcast: log → outbox → in-process hub", "\(p.broadcastMessages)", "\(Int(p.messagesPerSecond)) msgs/s", "", "", "", p.received == p.broadcastMessages ? "all received" : "LOST \(p.broadcastMessages - p.received)"])
        }
        if let a = anycable {
            rows.append(["AnyCable stand-in, batches of 100 (loopback HTTP)", "\(a.batched.messages)", "\(Int(a.batched.perSecond)) msgs/s", "", "", "≥ 10000 msgs/s",
                         a.batched.perSecond >= 10_000 ? "ok" : "BELOW TARGET"])
            rows.append(["AnyCable stand-in, one per request", "\(a.single.messages)", "\(Int(a.single.perSecond)) msgs/s", "", "", "", ""])
            rows.append(["AnyCable pipeline: log → outbox → stand-in", "\(a.pipeline.messages)", "\(Int(a.pipeline.perSecond)) msgs/s", "", "", "",
                         "stand-in received \(a.received)"])
        }
        if let u = upstash {
            rows.append(["Upstash stand-in: stream → queued, acknowledged", "\(u.entries)", "\(Int(u.intakePerSecond)) entries/s", "", "", "≥ 5000 entries/s",
                         u.intakePerSecond >= 5_000 ? (u.pendingAfter == 0 ? "ok" : "ok, \(u.pendingAfter) PENDING") : "BELOW TARGET"])
            rows.append(["Upstash stand-in: status hashes, 100 per pipeline", "\(u.statusWrites)", "\(Int(u.statusPerSecond)) writes/s", "", "", "≥ 5000 writes/s",
                         u.statusPerSecond >= 5_000 ? "ok" : "BELOW TARGET"])
        }
        if let b = blobs {
            rows.append(["Vercel Blob stand-in: 50 KiB uploads, \(b.parallelism) at a time, vs bare PUTs", "\(b.ours.uploads)",
                         String(format: "%d/s, %.1f MiB/s", Int(b.ours.perSecond), b.ours.mibPerSecond),
                         String(format: "bare %d/s, %.1f MiB/s", Int(b.bare.perSecond), b.bare.mibPerSecond),
                         String(format: "%.2f", (b.ratio * 100).rounded(.down) / 100), "≥ 0.8",
                         b.ratio >= 0.8 ? "ok" : "BELOW TARGET"])
        }
        printTable(header: ["BENCHMARK", "EVENTS", "OURS", "RAW SQLITE", "RATIO", "TARGET", ""], rows: rows)
    }

    private func note(_ s: String) { printErr("bench: \(s)") }

    /// `--engine-jobs` as numbers: a comma-separated list.
    private func backlogs() throws -> [Int] {
        let parts = engineJobs.split(separator: ",", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, numbers.count == parts.count else {
            throw ValidationError("--engine-jobs must be a comma-separated list of numbers \(OptionRanges.engineJobs.bounds) (got \(engineJobs))")
        }
        return numbers
    }

    /// The targets for one backlog: ≥ 0.6 of the raw ceiling for the smallest backlog;
    /// for the others, at least 0.8 of the smallest's rate; under 300 MB and a first claim within
    /// 2 s for any.
    static func burnDownMeetsTargets(_ b: EngineBench.Result, smallest: EngineBench.Result?) -> Bool {
        let rate = b.jobs == smallest?.jobs ? b.ratioToRawCeiling >= 0.6 : b.jobsPerSecond >= 0.8 * (smallest?.jobsPerSecond ?? 0)
        return rate && b.peakResidentMB < 300 && b.firstClaimSeconds < 2
    }

    /// Backlogs up to this size are measured three times (see `measure`).
    static let repeatedBacklog = 10_000

    /// The burn-down of one backlog: its jobs submitted by one child process
    /// (`--engine-backlog`), worked off by a new engine in another (`--engine-child`), which
    /// reports its figures and its own peak resident set size. The time runs from the first
    /// submit until every job is terminal.
    private func engineBurnDown(directory: URL, jobs: Int) throws -> EngineBench.Result {
        let backlog = try child(["bench", "--engine-backlog", directory.path, "--engine-jobs", "\(jobs)", "--engine-workers", "\(engineWorkers)"],
                                what: "the engine backlog")
        let json = try child(["bench", "--engine-child", directory.path, "--engine-jobs", "\(jobs)", "--engine-workers", "\(engineWorkers)"],
                             what: "the engine burn-down")
        guard let submitSeconds = backlog["seconds"]?.doubleValue,
              let n = json["jobs"]?.intValue, let events = json["events"]?.intValue, let kb = json["maxrss_kb"]?.intValue,
              let seconds = json["seconds"]?.doubleValue, let first = json["first_claim_s"]?.doubleValue
        else { throw fail("the engine burn-down child processes reported nothing usable", code: 1) }
        var r = EngineBench.Result(jobs: Int(n), workers: engineWorkers, seconds: submitSeconds + seconds, events: Int(events))
        r.firstClaimSeconds = first
        r.peakResidentMB = Double(kb) / 1024
        return r
    }

    /// Runs this binary with `arguments` and reads the JSON object it prints.
    func child(_ arguments: [String], what: String) throws -> JSONValue {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let text = String(data: data, encoding: .utf8),
              let json = try? JSONValue(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw fail("\(what) child process failed (exit \(p.terminationStatus))", code: 1) }
        return json
    }

    /// The child side of `engineBurnDown`.
    private func engineChildRun(_ directory: String) async throws {
        let jobs = try backlogs()[0]
        let r = try await EngineBench.burnDown(directory: URL(fileURLWithPath: directory), jobs: jobs, workers: engineWorkers)
        print("{\"jobs\":\(r.jobs),\"events\":\(r.events),\"seconds\":\(r.seconds),\"transactions\":\(r.transactions),\"first_claim_s\":\(r.firstClaimSeconds),\"maxrss_kb\":\(LedgerBenchmarks.ownPeakResidentKilobytes())}")
    }

    /// Replays in this process and reports the peak resident set size (the child side).
    private func replayChildRun(_ path: String) throws {
        let r = try LedgerBenchmarks.replay(path: path)
        print("{\"events\":\(r.events),\"jobs\":\(r.jobs),\"seconds\":\(r.seconds),\"maxrss_kb\":\(LedgerBenchmarks.ownPeakResidentKilobytes())}")
    }

    private func peakReplayMemory(path: String) throws -> (events: Int, mb: Double) {
        let json = try child(["bench", "--replay-child", path], what: "the replay")
        guard let kb = json["maxrss_kb"]?.intValue, let n = json["events"]?.intValue
        else { throw fail("the replay child process reported nothing usable", code: 1) }
        return (Int(n), Double(kb) / 1024)
    }
}
