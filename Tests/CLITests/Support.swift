import Foundation
import JobLedgerTestSupport
import GRDB
import Testing

// Helpers for running the real `jobledger` executable as a subprocess.

/// Where the built `jobledger` executable is: `$JOBLEDGER_BIN`, else the directory of the running
/// test bundle (`.build/<triple>/debug/` under `swift test`) or one of its parents (the macOS
/// `.xctest/Contents/MacOS` layout), else `.build/debug/` of this package.
let jobledgerBinary: URL? = {
    let fm = FileManager.default
    func executable(_ url: URL) -> URL? {
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              fm.isExecutableFile(atPath: url.path) else { return nil }
        return url
    }
    if let override = ProcessInfo.processInfo.environment["JOBLEDGER_BIN"], !override.isEmpty {
        return URL(fileURLWithPath: override)
    }
    var starts: [URL] = []
    if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        starts.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
    }
    if let first = CommandLine.arguments.first {
        starts.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
    }
    for start in starts {
        var dir = start
        for _ in 0..<4 {
            if let found = executable(dir.appendingPathComponent("jobledger")) { return found }
            dir = dir.deletingLastPathComponent()
        }
    }
    // Tests/CLITests/Support.swift → package root.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return executable(root.appendingPathComponent(".build/debug/jobledger"))
}()

/// A fresh directory per test, removed when the value is released.
final class Scratch: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-cli-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

struct CLIResult: Sendable, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let stdout: String
    let stderr: String

    /// The non-empty lines of stderr.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String { "jobledger \(arguments.joined(separator: " ")) → exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs `jobledger args…` with the scratch directory as working directory, stdin from /dev/null,
/// and stdout/stderr captured in files (no pipe buffer to fill up). `JOBLEDGER_DB` is removed from
/// the environment so that every command goes by its `--db`; `environment` adds variables. A
/// command still running after `deadline` is killed and the test fails saying so (a hang never
/// stalls the run).
func jobledger(_ args: [String], in scratch: Scratch, deadline: Duration = childDeadline, environment extra: [String: String] = [:],
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
    let binary = try #require(jobledgerBinary, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN")
    return try await runCaptured(binary, args, shown: args, in: scratch, deadline: deadline, environment: extra, sourceLocation: sourceLocation)
}

/// Runs `jobledger` through `/bin/sh -c`, `script` being what follows `jobledger` on the shell's
/// command line: so that an argument may hold bytes that are not UTF-8 (`"$(printf 'caf\xe9')"`),
/// which no Swift string can pass. `setup` runs in the shell first (`ulimit -f 512; `).
/// Otherwise as `jobledger(_:in:)`.
func jobledgerInShell(_ script: String, setup: String = "", in scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
    let binary = try #require(jobledgerBinary, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN")
    return try await runCaptured(URL(fileURLWithPath: "/bin/sh"), ["-c", setup + "exec \"$JOBLEDGER_UNDER_TEST\" " + script], shown: [setup + script],
                                 in: scratch, deadline: childDeadline, environment: ["JOBLEDGER_UNDER_TEST": binary.path],
                                 sourceLocation: sourceLocation)
}

/// Runs `jobledger args…` with its open-file limit, soft and hard, set to `openFiles` (`ulimit -n`
/// in a shell that then execs it): it cannot raise it back. Otherwise as `jobledger(_:in:)`.
func jobledger(_ args: [String], in scratch: Scratch, openFiles: Int, environment extra: [String: String] = [:],
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
    let binary = try #require(jobledgerBinary, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN")
    return try await runCaptured(URL(fileURLWithPath: "/bin/sh"), ["-c", "ulimit -n \(openFiles) && exec \"$0\" \"$@\"", binary.path] + args,
                                 shown: ["(ulimit -n \(openFiles))"] + args, in: scratch, deadline: childDeadline, environment: extra,
                                 sourceLocation: sourceLocation)
}

/// A child `binary args…` in `scratch`, with this process's environment less `JOBLEDGER_DB`
/// (each test names its log) plus `extra`, and no input; its output is the caller's to set.
func cliProcess(_ binary: URL, _ args: [String], in scratch: Scratch, environment extra: [String: String] = [:]) -> Process {
    let process = Process()
    process.executableURL = binary
    process.arguments = args
    process.currentDirectoryURL = scratch.url
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "JOBLEDGER_DB")
    environment.merge(extra) { $1 }
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    return process
}

private func runCaptured(_ binary: URL, _ args: [String], shown: [String], in scratch: Scratch, deadline: Duration, environment extra: [String: String],
                         sourceLocation: SourceLocation) async throws -> CLIResult {
    let io = scratch.url.appendingPathComponent("io-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: io, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: io) }
    let outURL = io.appendingPathComponent("stdout"), errURL = io.appendingPathComponent("stderr")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

    let process = cliProcess(binary, args, in: scratch, environment: extra)
    process.standardOutput = out
    process.standardError = err
    let exited = Flag(), killed = Flag()
    var watchdog: Task<Void, any Error>?
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { p in
            exited.set()
            continuation.resume(returning: p.terminationStatus)
        }
        do {
            try startChild(process)
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
            return
        }
        let pid = process.processIdentifier
        watchdog = Task {
            try await Task.sleep(for: deadline)
            guard !exited.isSet else { return }
            killed.set()
            kill(pid, SIGKILL)
        }
    }
    watchdog?.cancel()
    if killed.isSet {
        Issue.record("jobledger \(shown.joined(separator: " ")) did not exit within \(deadline); it was killed", sourceLocation: sourceLocation)
    }
    try out.close()
    try err.close()
    return CLIResult(arguments: shown,
                     status: status,
                     stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                     stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// Checks a refusal: the exit code, and exactly one stderr line that starts with "jobledger: " and
/// mentions every one of `mentions`. stdout must stay empty unless `stdoutMayHaveText`.
func expectRefusal(_ r: CLIResult, exit code: Int32, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == code, "\(r)", sourceLocation: sourceLocation)
    #expect(r.stderrLines.count == 1, "expected exactly one stderr line: \(r)", sourceLocation: sourceLocation)
    #expect(r.stderr.hasSuffix("\n"), "\(r)", sourceLocation: sourceLocation)
    let line = r.stderrLines.first ?? ""
    #expect(line.hasPrefix("jobledger: "), "\(r)", sourceLocation: sourceLocation)
    for m in mentions {
        #expect(line.contains(m), "stderr should mention \(m.debugDescription): \(r)", sourceLocation: sourceLocation)
    }
    #expect(r.stdout.isEmpty, "nothing expected on stdout: \(r)", sourceLocation: sourceLocation)
}

/// `jobledger export` and `jobledger digest` of a log: equal snapshots mean nothing was written.
struct LogSnapshot: Equatable, Sendable {
    let export: String
    let digest: String
}

func snapshot(_ db: String, in scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation) async throws -> LogSnapshot {
    let export = try await jobledger(["export", "--db", db], in: scratch)
    #expect(export.status == 0, "\(export)", sourceLocation: sourceLocation)
    let digest = try await jobledger(["digest", "--db", db], in: scratch)
    #expect(digest.status == 0, "\(digest)", sourceLocation: sourceLocation)
    return LogSnapshot(export: export.stdout, digest: digest.stdout)
}

let emptyDigest = "0:" + String(repeating: "0", count: 64) + "\n"

// MARK: - Payloads

let queuedPayload = #"{"kind":"design","input":{"prompt":"a cat"}}"#
func startedPayload(attempt: Int = 1) -> String {
    #"{"worker":"w1","attempt":\#(attempt),"lease_deadline":"2030-01-01T00:00:00Z"}"#
}
let progressPayload = #"{"attempt":1,"fraction":0.5,"message":"half"}"#
let completedPayload = #"{"attempt":1,"output":{"ok":true}}"#

/// Appends one event; fails the test unless it is accepted. Returns the printed job id.
@discardableResult
func append(_ db: String, type: String, job: String? = nil, payload: String, extra: [String] = [],
            in scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
    var args = ["append", "--db", db, "--type", type, "--payload", payload] + extra
    if let job { args += ["--job", job] }
    let r = try await jobledger(args, in: scratch)
    #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A log with one queued job; returns the job id.
@discardableResult
func logWithQueuedJob(_ db: String, in scratch: Scratch) async throws -> String {
    try await append(db, type: "queued", payload: queuedPayload, in: scratch)
}

/// A log with one job taken through queued, started, progress and completed (seq 1…4).
@discardableResult
func logWithCompletedJob(_ db: String, in scratch: Scratch) async throws -> String {
    let job = try await append(db, type: "queued", payload: queuedPayload, in: scratch)
    try await append(db, type: "started", job: job, payload: startedPayload(), in: scratch)
    try await append(db, type: "progress", job: job, payload: progressPayload, in: scratch)
    try await append(db, type: "completed", job: job, payload: completedPayload, in: scratch)
    return job
}

// MARK: - Going behind the tool's back

/// Runs SQL on the file directly, as an operator (or a tamperer) with the sqlite3 shell would.
func rawSQL(_ path: String, _ sql: String) throws {
    var c = Configuration()
    c.busyMode = .timeout(5)
    let queue = try DatabaseQueue(path: path, configuration: c)
    try queue.writeWithoutTransaction { db in try db.execute(sql: sql) }
    try queue.close()
}

func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// UUIDv7 text: version nibble 7, RFC 4122 variant.
var uuidV7: Regex<Substring> { #/[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/# }
/// A chain head as `digest` prints it: SEQ:HASH.
var chainHead: Regex<(Substring, Substring, Substring)> { #/([0-9]+):([0-9a-f]{64})/# }
