import Crypto
import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerVercelBlob
import Logging
import Synchronization
import Testing

/// The store id and token the tests use (the stand-in accepts exactly this token).
let testStoreID = "teststore0blob1"
let testToken = "vercel_blob_rw_\(testStoreID)_Secret0123456789abcdefSECRET"

/// The Vercel Blob stand-in (`Fixtures/vercel-blob/standin.py`) running as a child process on
/// loopback for one test. Call `stop()` at the end (a `defer` right after `init`).
final class StandIn: @unchecked Sendable {
    let process: Process
    let port: Int
    /// Its standard input: closing it (or this process dying) makes the stand-in exit.
    let stdin: Pipe
    let transport = VercelBlobURLSessionTransport()

    static var packageRoot: URL {
        // …/Tests/JobLedgerVercelBlobTests/StandIn.swift → the package root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var script: String { packageRoot.appendingPathComponent("Fixtures/vercel-blob/standin.py").path }

    /// `init(token:access:)` on a thread of its own: the wait for the stand-in's first line is
    /// not the cooperative pool's.
    static func start(token: String = testToken, access: String = "public") async throws -> StandIn {
        try await offPool { Result { try StandIn(token: token, access: access) } }.get()
    }

    /// Starts the stand-in for the store of `token` and waits for its `LISTENING <port>` line.
    init(token: String = testToken, access: String = "public") throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.script, "--port", "0", "--token", token, "--access", access, "--exit-on-stdin-eof"]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "BLOB_READ_WRITE_TOKEN")
        p.environment = env
        let out = childPipe()
        p.standardOutput = out
        let input = childPipe()
        p.standardInput = input
        try startChild(p)
        let line = Self.firstLine(of: out.fileHandleForReading, within: .seconds(120))
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst("LISTENING ".count)) else {
            try? input.fileHandleForWriting.close()
            waitForChildExit(p, within: .seconds(600))
            throw StandInError.didNotStart(text.isEmpty ? "no LISTENING line" : text)
        }
        self.stdin = input
        self.process = p
        self.port = port
    }

    func stop() {
        try? stdin.fileHandleForWriting.close()
        if !waitForChildExit(process, within: .seconds(60)) {
            Issue.record("the Vercel Blob stand-in did not exit within 60 s of its stdin closing; it was killed")
        }
    }

    /// Bytes up to and including the first newline, EOF, or whatever arrived by the deadline.
    static func firstLine(of handle: FileHandle, within deadline: Duration) -> Data {
        let end = ContinuousClock.now.advanced(by: deadline)
        var line = Data()
        var chunk = [UInt8](repeating: 0, count: 256)
        while !line.contains(UInt8(ascii: "\n")) && ContinuousClock.now < end {
            var p = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, 500)
            if n == 0 || (n < 0 && errno == EINTR) { continue }
            if n < 0 { break }
            let got = read(handle.fileDescriptor, &chunk, chunk.count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            line.append(contentsOf: chunk[0..<got])
        }
        return line
    }

    /// The API base the store is pointed at.
    var apiURL: URL { URL(string: "http://127.0.0.1:\(port)/api/blob")! }

    /// The environment `jobledger --blob-store vercel` reads.
    var environment: [String: String] { ["BLOB_READ_WRITE_TOKEN": testToken, "VERCEL_BLOB_API_URL": apiURL.absoluteString] }

    private func control(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let request = VercelBlobHTTPRequest(method: method, url: URL(string: "http://127.0.0.1:\(port)/_standin/\(path)")!,
                                            headers: [("content-type", "application/json")],
                                            body: Data((body?.canonicalText ?? "").utf8), timeout: .seconds(30))
        let r = try await transport.send(request)
        guard r.status == 200 else { throw StandInError.control(path, r.status) }
        return try JSONValue(parsing: String(decoding: r.body, as: UTF8.self))
    }

    func fault(_ spec: JSONValue) async throws { _ = try await control("POST", "fault", spec) }
    func reset(blobs: Bool = false) async throws { _ = try await control("POST", "reset", ["blobs": .bool(blobs)]) }

    struct Stats {
        let json: JSONValue
        var requests: Int { Int(json["requests"]?.intValue ?? 0) }
        func byStatus(_ s: Int) -> Int { Int(json["by_status"]?["\(s)"]?.intValue ?? 0) }
        func byOp(_ op: String) -> Int { Int(json["by_op"]?[op]?.intValue ?? 0) }
        var writes: [String: Int] {
            guard case .object(let o)? = json["writes"] else { return [:] }
            return o.mapValues { Int($0.intValue ?? 0) }
        }
        var dropped: Int { Int(json["dropped"]?.intValue ?? 0) }
        var lostResponses: Int { Int(json["lost_responses"]?.intValue ?? 0) }
        func lastHeaders(_ op: String) -> [String: String] {
            guard case .object(let o)? = json["last_headers"]?[op] else { return [:] }
            return o.compactMapValues(\.stringValue)
        }
    }

    func stats() async throws -> Stats { Stats(json: try await control("GET", "stats")) }

    struct Request { let op: String; let pathname: String?; let part: String?; let status: String; let headers: [String: String] }

    func requests(_ op: String? = nil) async throws -> [Request] {
        guard case .array(let items) = try await control("GET", "requests") else { return [] }
        return items.compactMap { v -> Request? in
            let o = v["op"]?.stringValue ?? "?"
            if let op, o != op { return nil }
            var headers: [String: String] = [:]
            if case .object(let h)? = v["headers"] { headers = h.compactMapValues(\.stringValue) }
            let status = v["status"].map { $0.stringValue ?? $0.canonicalText } ?? ""
            return Request(op: o, pathname: v["pathname"]?.stringValue, part: v["part"]?.stringValue, status: status, headers: headers)
        }
    }

    struct Blob { let pathname: String; let url: String; let size: Int64; let sha256: String; let contentType: String; let cacheControl: String }

    /// What the stand-in holds, in pathname order.
    func blobs() async throws -> [Blob] {
        guard case .array(let items) = try await control("GET", "blobs") else { return [] }
        return items.map {
            Blob(pathname: $0["pathname"]?.stringValue ?? "", url: $0["url"]?.stringValue ?? "", size: $0["size"]?.intValue ?? -1,
                 sha256: $0["sha256"]?.stringValue ?? "", contentType: $0["contentType"]?.stringValue ?? "",
                 cacheControl: $0["cacheControl"]?.stringValue ?? "")
        }
    }

    /// A stored blob fetched from its public URL (through the stand-in, by Host header).
    func fetch(_ url: String) async throws -> (status: Int, body: Data, headers: [String: String]) {
        let u = try #require(URLComponents(string: url))
        let request = VercelBlobHTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)\(u.percentEncodedPath)")!,
                                            headers: [("Host", u.host ?? "")], timeout: .seconds(30))
        let r = try await transport.send(request)
        return (r.status, r.body, r.headers)
    }
}

enum StandInError: Error { case didNotStart(String), control(String, Int) }

/// A store pointed at the stand-in, with short retry waits.
func testStore(_ standIn: StandIn, token: String = testToken, retries: Int = 3, timeout: Duration = .seconds(20),
               configure: (inout VercelBlobConfiguration) -> Void = { _ in }, logger: Logger = Logger(label: "test"),
               transport: (any VercelBlobTransport)? = nil) throws -> VercelBlobStore {
    var c = VercelBlobConfiguration(token: try VercelBlobToken(token), apiURL: standIn.apiURL, requestTimeout: timeout, retries: retries)
    c.retryBase = .milliseconds(20)
    c.retryCap = .seconds(3)
    configure(&c)
    return VercelBlobStore(configuration: c, transport: transport ?? VercelBlobURLSessionTransport(), logger: logger)
}

final class TempFolder: Sendable {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-vercel-blob-\(UUID().uuidString)")
    init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Captures every log line (message and metadata), to check that no secret is logged.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }

    var logger: Logger {
        var l = Logger(label: "test") { _ in Handler(capture: self) }
        l.logLevel = .trace
        return l
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let level = event.level, message = event.message
            capture.storage.withLock { $0.append("\(level) \(message) \(all)") }
        }
    }
}

/// SHA-256 of `data` in lowercase hex (what the stand-in reports for a stored blob).
func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
