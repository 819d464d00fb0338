import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate image jobs writing their lifecycle into a fresh log, then verify it.",
        discussion: """
            Each job is queued, started, reports progress, stages a low-resolution preview and a \
            final image, and completes; some attempts fail and are retried. Without --db the demo \
            writes ./jobledger-demo.sqlite, replacing the previous demo log.
            """)

    @Option(help: "The log to create (must not exist yet; default ./jobledger-demo.sqlite, replaced each run).") var db: String?
    @Option(help: "How many jobs.") var jobs: Int = 24
    @Option(help: "How many jobs run at once.") var workers: Int = 8
    @Option(help: "Chance that an attempt fails (retryable), 0…1.") var failRate: Double = 0.2
    @Option(help: "Seed for the simulated failures, for a repeatable run.") var seed: UInt64 = 42

    func validate() throws {
        guard jobs >= 1, jobs <= 1_000_000 else { throw ValidationError("--jobs must be 1…1000000") }
        guard workers >= 1, workers <= 1024 else { throw ValidationError("--workers must be 1…1024") }
        guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be within 0…1") }
    }

    func run() async throws {
        try await guarded {
            let path = try freshPath()
            let ledger = try Ledger.open(path: path)
            let started = ContinuousClock.now
            let pipe = isatty(STDOUT_FILENO) == 0
            print("demo: \(jobs) image jobs, \(workers) at a time, into \(path)")
            let stats = try await simulate(ledger: ledger, echo: pipe)
            let elapsed = started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let events = try ledger.eventCount()
            let assets = try ledger.assetTotals()
            print("""
                done: \(stats.completed) completed, \(stats.failed) failed, \(stats.retried) retried attempts
                      \(events) events, \(assets.count) images staged (\(assets.bytes) bytes) in \(String(format: "%.2f", seconds)) s \
                (\(Int(Double(events) / max(seconds, 1e-6))) events/s)
                """)
            let report = try ledger.verify()
            if let p = report.problem {
                print("verify: FAILED at seq \(p.seq): \(p.message)")
                throw ExitCode(1)
            }
            print("verify: \(verifySummary(report, expected: nil))")
            print("next: jobledger jobs --db \(path)   ·   jobledger history <JOB> --db \(path)")
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
        for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
            try fm.removeItem(atPath: path + suffix)
        }
        return path
    }

    struct Stats { var completed = 0, failed = 0, retried = 0 }

    private func simulate(ledger: Ledger, echo: Bool) async throws -> Stats {
        let ids = (0..<jobs).map { _ in JobID.generate() }
        for id in ids {
            _ = try await ledger.append(NewEvent(job: id, payload: .queued(.init(
                kind: "design", input: .object(["prompt": .string("poster \(id.rawValue.suffix(4))"), "size": .int(512)]), maxAttempts: 3))))
        }
        var stats = Stats()
        try await withThrowingTaskGroup(of: (JobStatus, Int).self) { group in
            var next = 0
            func launch() {
                guard next < ids.count else { return }
                let index = next
                next += 1
                group.addTask { try await runJob(ids[index], index: index, ledger: ledger, echo: echo) }
            }
            for _ in 0..<min(workers, ids.count) { launch() }
            while let (status, retries) = try await group.next() {
                if status == .completed { stats.completed += 1 } else { stats.failed += 1 }
                stats.retried += retries
                if !echo { printProgress(done: stats.completed + stats.failed) }
                launch()
            }
        }
        if !echo { print("") }
        return stats
    }

    private func printProgress(done: Int) {
        let width = 30
        let filled = done * width / jobs
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardOutput.write(Data("\r  \(bar) \(done)/\(jobs) jobs".utf8))
    }

    private func runJob(_ id: JobID, index: Int, ledger: Ledger, echo: Bool) async throws -> (JobStatus, Int) {
        var rng = SplitMix(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
        var retries = 0
        let worker = "demo-\(index % workers)"
        for attempt in 1...3 {
            let lease = Timestamp.now.adding(milliseconds: 30_000)
            _ = try await ledger.append(NewEvent(job: id, payload: .started(.init(worker: worker, attempt: attempt, leaseDeadline: lease))))
            let failsAt = rng.nextDouble() < failRate ? 1 + Int(rng.nextDouble() * 3) : Int.max
            for step in 1...4 {
                if step == failsAt {
                    let last = attempt == 3
                    _ = try await ledger.append(NewEvent(job: id, payload: .failed(.init(
                        code: "render_timeout", message: "renderer did not answer in time", retryable: true, attempt: attempt))))
                    if echo { print("  \(id) attempt \(attempt) failed\(last ? " for good" : ", retrying")") }
                    if last { return (.failed, retries) }
                    retries += 1
                    break
                }
                _ = try await ledger.append(NewEvent(job: id, payload: .progress(.init(fraction: Double(step) / 5, message: "rendering pass \(step)"))))
                if step == 2 {
                    let preview = try await ledger.stageAsset(DemoImage.png(width: 16, height: 16, seed: UInt32(truncatingIfNeeded: rng.next())), contentType: "image/png")
                    _ = try await ledger.append(NewEvent(job: id, payload: .lowres(.init(asset: preview))))
                }
                if step == 4 {
                    let final = try await ledger.stageAsset(DemoImage.png(width: 64, height: 64, seed: UInt32(truncatingIfNeeded: rng.next())), contentType: "image/png")
                    _ = try await ledger.append(NewEvent(job: id, payload: .completed(.init(asset: final, output: .object(["width": .int(64), "height": .int(64)])))))
                    if echo { print("  \(id) completed (attempt \(attempt))") }
                    return (.completed, retries)
                }
            }
        }
        return (.failed, retries)
    }
}

/// A small seeded generator, so a demo run can be repeated exactly.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
