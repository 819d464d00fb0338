import Foundation
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite

/// Broadcast throughput to the local AnyCable stand-in over loopback HTTP: batched, one
/// publication per request, and the whole pipeline (log → outbox → AnyCable).
package enum AnyCableBench {
    package struct Result {
        package var batched: (messages: Int, perSecond: Double)
        package var single: (messages: Int, perSecond: Double)
        package var pipeline: (messages: Int, perSecond: Double)
        package var received: Int
    }

    package static func seconds(_ d: Duration) -> Double { LedgerBenchmarks.seconds(d) }

    /// Starts `standin.py` on a free port; it exits when its standard input closes.
    package static func startStandIn(script: String, key: String) throws -> (Process, Pipe, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--port", "0", "--key", key, "--exit-on-stdin-eof"]
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
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst(10)) else {
            throw BenchmarkError(message: "the AnyCable stand-in did not start (\(script)): \(text)")
        }
        return (p, input, port)
    }

    package static func messages(_ n: Int) -> [Publication] {
        let job = JobID.generate()
        return (0..<n).map { i in
            Publication(stream: "job:\(job)", message: BroadcastMessage(
                type: .progress, job: job, seq: Int64(i + 1), version: i + 1, state: .running, attempt: 1,
                progress: Double(i % 100) / 100, message: "rendering pass \(i)"))
        }
    }

    package static func run(script: String, directory: URL, messages count: Int, batchSize: Int) async throws -> Result {
        let key = "bench-\(UUID().uuidString)"
        let (process, input, port) = try startStandIn(script: script, key: key)
        defer { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
        let url = URL(string: "http://127.0.0.1:\(port)/_broadcast")!
        let clock = ContinuousClock()

        let batched = AnyCableBroadcaster(url: url, key: AnyCableSecret(key), batchSize: batchSize)
        let all = messages(count)
        var t = clock.now
        for start in stride(from: 0, to: all.count, by: batchSize) {
            try await batched.deliver(Array(all[start..<min(start + batchSize, all.count)]))
        }
        let batchedRate = Double(all.count) / seconds(t.duration(to: clock.now))

        let single = AnyCableBroadcaster(url: url, key: AnyCableSecret(key), batchSize: 1)
        let few = Array(all.prefix(max(1, count / 10)))
        t = clock.now
        for p in few { try await single.deliver([p]) }
        let singleRate = Double(few.count) / seconds(t.duration(to: clock.now))

        // The whole pipeline: every event of a log, uncoalesced, through the broadcast projection.
        // The stand-in forgets the first two parts, so its count below is the pipeline's alone.
        _ = try await URLSessionTransport().send(HTTPRequest(method: "POST", url: URL(string: "http://127.0.0.1:\(port)/_standin/reset")!))
        let path = directory.appendingPathComponent("anycable.sqlite").path
        try await LedgerBenchmarks.buildLog(path: path, events: count, configuration: LedgerConfiguration()) { _ in }
        let ledger = try Ledger.open(path: path, create: false)
        var o = ProjectionRunner.Options(owner: "bench:\(getpid())")
        o.logger.logLevel = .error
        o.coalesceProgress = false
        o.batchSize = 1024
        o.deliveryBatch = batchSize
        _ = try await ProjectionRunner(ledger: ledger, options: o).catchUp()  // the jobs table first: not part of this figure
        t = clock.now
        let report = try await ProjectionRunner(ledger: ledger, broadcasts: batched, options: o).catchUp()
        let pipelineRate = Double(report.delivered) / seconds(t.duration(to: clock.now))

        // How many the stand-in took, as a check that nothing was lost on the way.
        let stats = try await URLSessionTransport().send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/_standin/stats")!))
        let received = (try? JSONValue(parsing: String(decoding: stats.body, as: UTF8.self)))?["publications"]?.intValue ?? -1
        return Result(batched: (all.count, batchedRate), single: (few.count, singleRate), pipeline: (report.delivered, pipelineRate),
                      received: Int(received))
    }
}

/// A benchmark that could not run, and why.
package struct BenchmarkError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}
