import Foundation
import JobLedger
import JobLedgerVercelBlob

/// Uploads of 50 KiB previews to the local Vercel Blob stand-in over loopback, through
/// `VercelBlobStore.put` with bounded parallelism, next to bare HTTP PUTs of the same bodies with
/// the same parallelism and the same HTTP client, in the same run.
package enum BlobsBench {
    package struct Side: Sendable {
        package var uploads: Int
        package var seconds: Double
        package var bytes: Int
        package var perSecond: Double { Double(uploads) / max(seconds, 1e-9) }
        package var mibPerSecond: Double { Double(bytes) / 1_048_576 / max(seconds, 1e-9) }
    }

    package struct Result: Sendable {
        package var ours: Side
        package var bare: Side
        package var parallelism: Int
        package var bodyBytes: Int
        package var stored: Int
        package var ratio: Double { ours.perSecond / max(bare.perSecond, 1e-9) }
    }

    /// A token for this run only: the stand-in is started with it, so nothing real is ever needed
    /// and no token-shaped literal sits in the source.
    static let token = VercelBlobToken.readWritePrefix + "benchstore1_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")

    /// Starts `standin.py` on a free port; it exits when its standard input closes.
    static func startStandIn(script: String) throws -> (Process, Pipe, Int) {
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
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst(10)) else {
            throw BenchmarkError(message: "the Vercel Blob stand-in did not start (\(script)): \(text)")
        }
        return (p, input, port)
    }

    /// Runs `count` jobs, `parallelism` at a time.
    static func bounded(_ count: Int, parallelism: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(parallelism, count) { let i = next; group.addTask { try await body(i) }; next += 1 }
            while try await group.next() != nil {
                if next < count { let i = next; group.addTask { try await body(i) }; next += 1 }
            }
        }
    }

    package static func run(script: String, uploads: Int, bodyBytes: Int = 50 * 1024, parallelism: Int = 8) async throws -> Result {
        let (process, input, port) = try startStandIn(script: script)
        defer { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
        let api = URL(string: "http://127.0.0.1:\(port)/api/blob")!
        let transport = VercelBlobURLSessionTransport()
        var config = VercelBlobConfiguration(token: try VercelBlobToken(token), apiURL: api, retries: 0)
        config.retryCap = .seconds(1)
        let store = VercelBlobStore(configuration: config, transport: transport)
        // Distinct bodies (content-addressed pathnames), made before the clock starts.
        let bodies: [Data] = (0..<uploads).map { i in
            var g = SplitMix64(seed: UInt64(i) &+ 1)
            return Data((0..<bodyBytes).map { _ in UInt8(truncatingIfNeeded: g.next()) })
        }
        let clock = ContinuousClock()

        func ours(_ tag: String) async throws -> Side {
            let t = clock.now
            try await bounded(uploads, parallelism: parallelism) { i in
                _ = try await store.put(pathname: "jobs/bench/lowres-\(tag)-\(i).png", bytes: bodies[i], contentType: "image/png")
            }
            return Side(uploads: uploads, seconds: LedgerBenchmarks.seconds(t.duration(to: clock.now)), bytes: uploads * bodyBytes)
        }
        func bare(_ tag: String) async throws -> Side {
            let t = clock.now
            try await bounded(uploads, parallelism: parallelism) { i in
                let url = URL(string: api.absoluteString + "/?pathname=bare%2F\(tag)-\(i).png")!
                let r = try await transport.send(VercelBlobHTTPRequest(
                    method: "PUT", url: url,
                    headers: [("authorization", "Bearer " + token), ("x-api-version", "12"), ("x-vercel-blob-access", "public"),
                              ("x-allow-overwrite", "1")],
                    body: bodies[i]))
                guard r.status == 200 else { throw BenchmarkError(message: "a bare PUT answered \(r.status)") }
            }
            return Side(uploads: uploads, seconds: LedgerBenchmarks.seconds(t.duration(to: clock.now)), bytes: uploads * bodyBytes)
        }
        // Warm up both, then two rounds each, interleaved; the better round of each side counts.
        _ = try await bare("warm"); _ = try await ours("warm")
        var o = try await ours("a"), b = try await bare("a")
        let o2 = try await ours("b"), b2 = try await bare("b")
        if o2.seconds < o.seconds { o = o2 }
        if b2.seconds < b.seconds { b = b2 }
        let stored = try await store.blobs(prefix: "jobs/bench/lowres-a-").count
        return Result(ours: o, bare: b, parallelism: parallelism, bodyBytes: bodyBytes, stored: stored)
    }
}
