import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerProjections
import Testing

/// The built `jobledger` executable (next to this test bundle, or `JOBLEDGER_BIN`).
let jobledgerExecutable: URL? = {
    if let override = ProcessInfo.processInfo.environment["JOBLEDGER_BIN"], !override.isEmpty {
        return URL(fileURLWithPath: override)
    }
    var dir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        .deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("jobledger")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// Runs `jobledger ARGS…` with extra environment, killing it at a deadline; returns its exit
/// status and output.
func runJobledger(_ args: [String], environment extra: [String: String], in folder: TempFolder,
                  deadline: Duration = .seconds(300)) async throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = try #require(jobledgerExecutable, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN") as URL
    p.arguments = args
    p.currentDirectoryURL = folder.url
    var env = ProcessInfo.processInfo.environment
    for k in env.keys where k.hasPrefix("ANYCABLE_") || k.hasPrefix("JOBLEDGER_ANYCABLE_") { env.removeValue(forKey: k) }
    env.merge(extra) { $1 }
    p.environment = env
    let out = folder.url.appendingPathComponent("out-\(UUID().uuidString)"), err = folder.url.appendingPathComponent("err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    p.standardInput = FileHandle.nullDevice
    try startChild(p)
    let end = ContinuousClock.now.advanced(by: deadline)
    while p.isRunning && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
    if p.isRunning {
        p.terminate()
        Issue.record("jobledger \(args.joined(separator: " ")) did not exit within \(deadline); terminated")
    }
    waitForChildExit(p, within: .seconds(600))
    return (p.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self), String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

@Suite(.serialized) struct DemoAgainstStandInTests {
    /// The stand-in fails its first requests with 503 (and one 429 with Retry-After): `demo`
    /// waits them out before it exits, so every message has arrived and it says so.
    @Test func demoDeliversEveryMessageThroughEarlyFailuresBeforeItExits() async throws {
        let key = "demo-drain-key-51c2"
        let standIn = try await StandIn.start(key: key)
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 503, "count": 3])
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "1", "count": 1])
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let r = try await runJobledger(["demo", "--db", db, "--jobs", "6", "--fail-rate", "0", "--broadcast", "anycable"],
                                       environment: ["ANYCABLE_BROADCAST_URL": standIn.broadcastURL.absoluteString,
                                                     "ANYCABLE_BROADCAST_KEY": key],
                                       in: folder)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let received = try decoded(try await standIn.received())
        let terminal = received.filter { $0.message.type == .completed }
        #expect(Set(terminal.map(\.message.job)).count == 6, "every job's final message arrived: \(received.count) messages")
        #expect(!r.stdout.contains("still owes"), "\(r.stdout)")
        #expect(!r.stdout.contains(" 0 broadcasts sent"), "\(r.stdout)")
        #expect(!(r.stdout + r.stderr).contains(key))
    }

    /// A wrong key: every message is a dead letter. `demo` ends with exit 7, saying how many
    /// are dead and the command that re-drives them.
    @Test func demoWithDeadLettersSaysSoAndExits7() async throws {
        let standIn = try await StandIn.start(key: "the-right-key-0a9e")
        defer { standIn.stop() }
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let r = try await runJobledger(["demo", "--db", db, "--jobs", "2", "--fail-rate", "0", "--broadcast", "anycable"],
                                       environment: ["ANYCABLE_BROADCAST_URL": standIn.broadcastURL.absoluteString,
                                                     "ANYCABLE_BROADCAST_KEY": "a-wrong-key-77f0"],
                                       in: folder)
        #expect(r.status == 7, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("projections: broadcast still owes"), "\(r.stdout)")
        #expect(r.stdout.contains(" dead"), "\(r.stdout)")
        #expect(r.stdout.contains("jobledger projections retry broadcast --db \(db)"), "\(r.stdout)")
        #expect(!(r.stdout + r.stderr).contains("a-wrong-key-77f0"))
    }
}
