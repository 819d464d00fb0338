import Foundation
import JobLedgerTestSupport
import Testing
import JobLedger
import JobLedgerAnyCable
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The AnyCable stand-in (`Fixtures/anycable/standin.py`) running as a child process on
/// loopback for one test. Call `stop()` at the end (a `defer` right after `start`).
final class StandIn: @unchecked Sendable {
    let process: Process
    let port: Int
    /// Its standard input: closing it (or this process dying) makes the stand-in exit.
    let stdin: Pipe
    let transport = URLSessionTransport()

    static var packageRoot: URL {
        // …/Tests/JobLedgerAnyCableTests/StandIn.swift → the package root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `init(key:)` on a thread of its own: the wait for the stand-in's first line is not the
    /// cooperative pool's.
    static func start(key: String?) async throws -> StandIn {
        try await offPool { Result { try StandIn(key: key) } }.get()
    }

    /// Starts the stand-in with broadcast key `key` and waits for its `LISTENING <port>` line.
    init(key: String?) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var args = ["python3", Self.packageRoot.appendingPathComponent("Fixtures/anycable/standin.py").path, "--port", "0", "--exit-on-stdin-eof"]
        if let key { args += ["--key", key] } else { args += ["--key", "none"] }
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "ANYCABLE_BROADCAST_KEY")
        p.environment = env
        let out = childPipe()
        p.standardOutput = out
        let input = childPipe()
        p.standardInput = input
        try startChild(p)
        // The first line: the stand-in prints it once it is listening. Read with a deadline (a
        // stand-in that hangs fails the test instead of stalling the run).
        let line = Self.firstLine(of: out.fileHandleForReading, within: Self.deadline)
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst("LISTENING ".count)) else {
            try? input.fileHandleForWriting.close()
            waitForChildExit(p, within: Self.deadline)
            throw StandInError.didNotStart(text.isEmpty ? "no LISTENING line within \(Self.deadline)" : text)
        }
        self.stdin = input
        self.process = p
        self.port = port
    }

    /// Stops the stand-in: closes its standard input (it exits on EOF) and waits for it (killing
    /// it if it is still there after the deadline).
    func stop() {
        try? stdin.fileHandleForWriting.close()
        if !waitForChildExit(process, within: Self.deadline) {
            Issue.record("the AnyCable stand-in did not exit within \(Self.deadline) of its stdin closing; it was killed")
        }
    }

    /// How long starting or stopping the stand-in may take: generous, for a loaded machine.
    static let deadline: Duration = .seconds(120)

    /// Bytes up to and including the first newline, EOF, or whatever arrived by the deadline.
    static func firstLine(of handle: FileHandle, within deadline: Duration) -> Data {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        var line = Data()
        var chunk = [UInt8](repeating: 0, count: 256)
        while !line.contains(UInt8(ascii: "\n")) {
            let left = clock.now.duration(to: end)
            guard left > .zero else { break }
            var p = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(min(1000, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))))
            if n == 0 || (n < 0 && errno == EINTR) { continue }
            if n < 0 { break }
            let got = read(handle.fileDescriptor, &chunk, chunk.count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }  // EOF: it died
            line.append(contentsOf: chunk[0..<got])
        }
        return line
    }

    var broadcastURL: URL { URL(string: "http://127.0.0.1:\(port)/_broadcast")! }

    private func control(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> Data {
        let request = HTTPRequest(method: method, url: URL(string: "http://127.0.0.1:\(port)\(path)")!,
                                  headers: [("Content-Type", "application/json")],
                                  body: Data((body?.canonicalText ?? "").utf8), timeout: .seconds(10))
        let r = try await transport.send(request)
        guard r.status == 200 else { throw StandInError.control(path, r.status) }
        return r.body
    }

    /// Accepted publications in arrival order.
    func received() async throws -> [AnyCablePublication] {
        let v = try JSONValue(parsing: String(decoding: try await control("GET", "/_standin/received"), as: UTF8.self))
        guard case .array(let items) = v else { return [] }
        return items.map { AnyCablePublication(stream: $0["stream"]?.stringValue ?? "", data: $0["data"]?.stringValue ?? "") }
    }

    struct Stats { var requests: Int; var byStatus: [String: Int]; var dropped: Int; var malformed: Int; var withAuthorization: Int }

    func stats() async throws -> Stats {
        let v = try JSONValue(parsing: String(decoding: try await control("GET", "/_standin/stats"), as: UTF8.self))
        var by: [String: Int] = [:]
        if case .object(let o)? = v["by_status"] { for (k, n) in o { by[k] = Int(n.intValue ?? 0) } }
        return Stats(requests: Int(v["requests"]?.intValue ?? 0), byStatus: by, dropped: Int(v["dropped"]?.intValue ?? 0),
                     malformed: Int(v["malformed"]?.intValue ?? 0), withAuthorization: Int(v["with_authorization"]?.intValue ?? 0))
    }

    func fault(_ spec: JSONValue) async throws { _ = try await control("POST", "/_standin/fault", spec) }
}

enum StandInError: Error { case didNotStart(String), control(String, Int) }

/// A broadcast message for tests.
func message(job: String, version: Int, seq: Int64, state: JobStatus = .running, progress: Double = 0.5) -> BroadcastMessage {
    BroadcastMessage(type: .progress, job: try! JobID(job), seq: seq, version: version, state: state, attempt: 1,
                     progress: progress, message: "step \(version)")
}
