import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerUpstash
import Logging

/// Upstash throughput against the local stand-in (a REST front to a real redis-server) on
/// loopback: stream entries taken in as committed, acknowledged `queued` events, and status
/// hashes written by the status-cache projection with pipelining.
package enum UpstashBench {
    package struct Result {
        package var entries: Int
        package var intakePerSecond: Double
        package var statusWrites: Int
        package var statusPerSecond: Double
        package var pendingAfter: Int64
    }

    /// Starts `standin.py` (which starts its own redis-server); it exits when its standard input closes.
    package static func startStandIn(script: String, token: String) throws -> (Process, Pipe, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--port", "0", "--token", token, "--exit-on-stdin-eof"]
        let out = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardInput = input
        p.standardError = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let parts = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard parts.count >= 2, parts[0] == "LISTENING", let port = Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchmarkError(message: "the Upstash stand-in did not start (\(script)); is redis-server installed?")
        }
        return (p, input, port)
    }

    package static func run(script: String, directory: URL, entries: Int, batchSize: Int = 500) async throws -> Result {
        let token = "bench-\(UUID().uuidString)"
        let (process, input, port) = try startStandIn(script: script, token: token)
        defer { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
        var logger = Logger(label: "jobledger.bench.upstash")
        logger.logLevel = .error
        let redis = UpstashRedis(url: URL(string: "http://127.0.0.1:\(port)")!, token: UpstashSecret(token), logger: logger)
        // What the web app would have written (not timed).
        var start = 0
        while start < entries {
            let end = min(entries, start + 1000)
            let adds = (start..<end).map { i in ["XADD", "design:jobs", "*", "input", "{\"prompt\":\"poster #\(i)\",\"size\":512}", "owner", "user_\(i % 97)"] }
            for r in try await redis.pipeline(adds, idempotent: false) { _ = try r.get() }
            start = end
        }
        let path = directory.appendingPathComponent("upstash.sqlite").path
        let ledger = try Ledger.open(path: path)
        var eo = JobEngine.Options(workerID: "bench")
        eo.logger.logLevel = .error
        let engine = JobEngine(ledger: ledger, options: eo)
        var o = UpstashStreamIntake.Options()
        o.batchSize = batchSize
        let intake = UpstashStreamIntake(redis: redis, options: o, logger: logger)
        let clock = ContinuousClock()
        var t = clock.now
        while try await intake.pull({ try await engine.submit($0) }) > 0 {}
        try await intake.flush()
        let intakeSeconds = LedgerBenchmarks.seconds(t.duration(to: clock.now))
        let pending = try await intake.status().pending

        // The status cache: one hash per queued job, through the outbox, 100 per /pipeline.
        var ro = ProjectionRunner.Options(owner: "bench:\(getpid())")
        ro.logger.logLevel = .error
        ro.batchSize = 1024
        ro.deliveryBatch = 100
        _ = try await ProjectionRunner(ledger: ledger, options: ro).catchUp()  // the jobs table first: not part of this figure
        let cache = UpstashStatusCache(redis: redis, batchSize: 100)
        t = clock.now
        let report = try await ProjectionRunner(ledger: ledger, state: [], effects: [cache], options: ro).catchUp()
        let statusSeconds = LedgerBenchmarks.seconds(t.duration(to: clock.now))
        return Result(entries: entries, intakePerSecond: Double(entries) / intakeSeconds, statusWrites: report.delivered,
                      statusPerSecond: Double(report.delivered) / statusSeconds, pendingAfter: pending)
    }
}
