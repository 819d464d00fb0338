import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerUpstash
import Synchronization
import Testing

/// The package root (…/Tests/JobLedgerUpstashTests/Support.swift → the root).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Upstash stand-in (`Fixtures/upstash/standin.py`) in front of its own redis-server on
/// loopback, for one test. Call `stop()` at the end.
final class UpstashStandIn: @unchecked Sendable {
    let process: Process
    let port: Int
    let redisPort: Int
    let token: String
    private let stdin: Pipe
    let transport = URLSessionUpstashTransport()

    /// `init(token:)` on a thread of its own: the wait for the stand-in's first line is not the
    /// cooperative pool's.
    static func start(token: String = "standin-token-\(UInt32.random(in: 0...UInt32.max))") async throws -> UpstashStandIn {
        try await offPool { Result { try UpstashStandIn(token: token) } }.get()
    }

    init(token: String = "standin-token-\(UInt32.random(in: 0...UInt32.max))") throws {
        self.token = token
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", packageRoot.appendingPathComponent("Fixtures/upstash/standin.py").path, "--port", "0",
                       "--token", token, "--exit-on-stdin-eof"]
        let out = childPipe(), input = childPipe()
        p.standardOutput = out
        p.standardInput = input
        try startChild(p)
        let line = Self.firstLine(out.fileHandleForReading)
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "LISTENING", let port = Int(parts[1]), let redisPort = Int(parts[2]) else {
            try? input.fileHandleForWriting.close()
            waitForChildExit(p, within: .seconds(600))
            throw StandInError.didNotStart(line.isEmpty ? "no LISTENING line (is redis-server installed? apt-get install redis-server)" : line)
        }
        process = p; stdin = input; self.port = port; self.redisPort = redisPort
    }

    func stop() {
        try? stdin.fileHandleForWriting.close()
        if !waitForChildExit(process, within: .seconds(120)) {
            Issue.record("the Upstash stand-in did not exit within 120 s of its stdin closing; it was killed")
        }
    }

    static func firstLine(_ h: FileHandle) -> String {
        var data = Data()
        let deadline = Date().addingTimeInterval(60)
        while !data.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let chunk = h.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func client(timeout: Duration = .seconds(5), retries: Int = 2, token: String? = nil) -> UpstashRedis {
        UpstashRedis(url: url, token: UpstashSecret(token ?? self.token), requestTimeout: timeout, retries: retries)
    }

    @discardableResult
    func control(_ path: String, _ body: JSONValue = [:]) async throws -> JSONValue {
        let r = try await transport.send(UpstashHTTPRequest(url: URL(string: "http://127.0.0.1:\(port)/_standin/\(path)")!,
                                                           headers: [("Content-Type", "application/json")],
                                                           body: Data(body.canonicalText.utf8)))
        return try JSONValue(parsing: String(decoding: r.body, as: UTF8.self))
    }

    func fault(_ spec: JSONValue) async throws { try await control("fault", spec) }

    func stats() async throws -> JSONValue {
        let r = try await transport.send(UpstashHTTPRequest(url: URL(string: "http://127.0.0.1:\(port)/_standin/stats")!))
        return try JSONValue(parsing: String(decoding: r.body, as: UTF8.self))
    }

    /// Commands the stand-in has taken so far (control calls and stats not counted).
    func requests() async throws -> Int64 { try await stats()["requests"]?.intValue ?? 0 }

    /// Waits until the stand-in handles no command (a delayed one has run), or fails after
    /// `deadline`. `requests`: also until it has taken that many commands in all; without it, a
    /// command the client gave up on may not even have reached the stand-in's handler on a
    /// loaded machine, and "nothing in flight" would be said too early.
    func settled(requests: Int64? = nil, within deadline: Duration = .seconds(60)) async throws {
        let end = ContinuousClock.now.advanced(by: deadline)
        while ContinuousClock.now < end {
            let s = try await stats()
            if case .int(0)? = s["in_flight"], (s["requests"]?.intValue ?? 0) >= (requests ?? 0) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw StandInError.didNotStart("a delayed command was still being handled after \(deadline)")
    }
}

enum StandInError: Error { case didNotStart(String), venv(String) }

/// The Python of the virtual environment with the official SDKs (made once by
/// Fixtures/setup-venv.sh; later runs reuse it), found off the cooperative pool.
let sdkPythonSetup = Task { await offPool { findSDKPython() } }

private func findSDKPython() -> Result<String, StandInError> {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["bash", packageRoot.appendingPathComponent("Fixtures/setup-venv.sh").path]
    let out = childPipe()
    p.standardOutput = out
    do { try startChild(p) } catch { return .failure(.venv("\(error)")) }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    waitForChildExit(p, within: .seconds(600))
    let path = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    guard p.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
        return .failure(.venv("Fixtures/setup-venv.sh failed (exit \(p.terminationStatus)); it needs python3-venv and PyPI"))
    }
    return .success(path)
}

/// Runs `code` with the SDKs' Python, `UPSTASH_REDIS_REST_URL`/`TOKEN` set to the stand-in's;
/// returns its standard output.
func runSDK(_ code: String, standIn: UpstashStandIn, environment: [String: String] = [:]) async throws -> String {
    let python = try await sdkPythonSetup.value.get()
    var env = ProcessInfo.processInfo.environment
    env["UPSTASH_REDIS_REST_URL"] = standIn.url.absoluteString
    env["UPSTASH_REDIS_REST_TOKEN"] = standIn.token
    env.merge(environment) { $1 }
    let run: @Sendable () -> Result<(status: Int32, out: Data, err: Data), any Error> = { [env] in
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", code]
        p.environment = env
        let out = childPipe(), err = childPipe()
        p.standardOutput = out
        p.standardError = err
        do { try startChild(p) } catch { return .failure(error) }
        // Standard error is read on its own thread, so a chatty one cannot fill its pipe and stall.
        let errData = Mutex(Data())
        let errRead = DispatchSemaphore(value: 0)
        Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() }; errRead.signal() }.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        waitForChildExit(p, within: .seconds(600))
        errRead.wait()
        return .success((p.terminationStatus, data, errData.withLock { $0 }))
    }
    let r = try await offPool(run).get()
    guard r.status == 0 else {
        throw StandInError.didNotStart("python failed: \(String(decoding: r.err, as: UTF8.self))")
    }
    return String(decoding: r.out, as: UTF8.self)
}

/// A fresh folder under the system's temporary directory, removed by `remove()`.
final class TempFolder: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-upstash-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}
