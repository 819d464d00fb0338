import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import JobLedgerUpstash
import Testing

/// The built `jobledger` executable (next to this test bundle, or `JOBLEDGER_BIN`).
let jobledgerExecutable: URL? = {
    if let override = ProcessInfo.processInfo.environment["JOBLEDGER_BIN"], !override.isEmpty { return URL(fileURLWithPath: override) }
    var dir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        .deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("jobledger")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

/// Starts `jobledger ARGS…` in `folder` with the Upstash variables of `standIn` (and `extra`).
func startJobledger(_ args: [String], standIn: UpstashStandIn?, extra: [String: String] = [:], in folder: TempFolder) throws -> (Process, URL, URL) {
    let p = Process()
    p.executableURL = try #require(jobledgerExecutable, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN") as URL
    p.arguments = args
    p.currentDirectoryURL = folder.url
    var env = ProcessInfo.processInfo.environment
    for k in env.keys where k.hasPrefix("UPSTASH_") || k.hasPrefix("KV_REST_") || k.hasPrefix("JOBLEDGER_UPSTASH_") { env.removeValue(forKey: k) }
    if let standIn {
        env["UPSTASH_REDIS_REST_URL"] = standIn.url.absoluteString
        env["UPSTASH_REDIS_REST_TOKEN"] = standIn.token
    }
    env.merge(extra) { $1 }
    p.environment = env
    let out = folder.url.appendingPathComponent("out-\(UUID().uuidString)"), err = folder.url.appendingPathComponent("err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    p.standardInput = FileHandle.nullDevice
    try startChild(p)
    return (p, out, err)
}

func runJobledger(_ args: [String], standIn: UpstashStandIn?, extra: [String: String] = [:], in folder: TempFolder,
                  deadline: Duration = .seconds(240)) async throws -> (status: Int32, stdout: String, stderr: String) {
    let (p, out, err) = try startJobledger(args, standIn: standIn, extra: extra, in: folder)
    let end = ContinuousClock.now.advanced(by: deadline)
    while p.isRunning && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
    if p.isRunning {
        p.terminate()
        Issue.record("jobledger \(args.joined(separator: " ")) did not exit within \(deadline); terminated")
    }
    waitForChildExit(p, within: .seconds(600))
    return (p.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self), String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

@Suite(.serialized) struct UpstashCLITests {
    /// The intake killed with SIGKILL in the middle of its batches, then started again: every
    /// entry is one job, none lost, none doubled, and all are acknowledged.
    @Test func intakeKilledMidBatchAndRestartedLosesNothingAndDoublesNothing() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let n = 300
        _ = try await runSDK("""
            from upstash_redis import Redis
            r = Redis.from_env()
            p = r.pipeline()
            for i in range(\(n)):
                p.xadd("design:jobs", "*", {"input": '{"n": %d}' % i})
            p.exec()
            """, standIn: s)
        let db = folder.path("log.sqlite")
        let env = ["JOBLEDGER_UPSTASH_BATCH_SIZE": "20", "JOBLEDGER_UPSTASH_CONSUMER": "worker-1"]
        let args = ["work", "--db", db, "--intake", "upstash", "--until-idle", "--fail-rate", "0", "--step-ms", "5", "--workers", "8", "--lease", "2"]
        // Three reads go through, then every read hangs at the stand-in before it runs: the third
        // batch is committed but its acknowledgement (sent with the fourth read) never arrives, so
        // the kill lands mid-run however slowly this machine schedules the test.
        try await s.control("reset")
        try await s.fault(["mode": "delay", "ms": 10, "count": 3, "path": "/pipeline"])
        try await s.fault(["mode": "delay", "ms": 600_000, "count": 10_000, "path": "/pipeline"])
        let (p, _, _) = try startJobledger(args, standIn: s, extra: env, in: folder)
        let end = ContinuousClock.now.advanced(by: .seconds(120))
        while ContinuousClock.now < end {
            if case .int(let reads)? = try await s.stats()["paths"]?["/pipeline"], reads >= 4 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        kill(p.processIdentifier, SIGKILL)
        waitForChildExit(p, within: .seconds(600))
        #expect(p.terminationReason == .uncaughtSignal)
        let before = try Ledger.openReadOnly(path: db).jobStates().count
        #expect(before > 0 && before < n, "killed mid-run: \(before) of \(n) jobs in the log")
        try await s.control("reset")
        let pendingAtKill = try await UpstashStreamIntake(redis: s.client()).status().pending
        #expect(pendingAtKill > 0, "committed entries were still unacknowledged when it was killed")
        // Restarted under the same consumer name: it reads its own pending entries first.
        let r = try await runJobledger(args, standIn: s, extra: env, in: folder)
        #expect(r.status == 0, "\(r.stderr)")
        let states = try Ledger.openReadOnly(path: db).jobStates().values
        #expect(states.count == n, "every entry is one job")
        #expect(states.allSatisfy { $0.status == .completed })
        let inputs = Set(states.compactMap { $0.input["n"]?.intValue })
        #expect(inputs.count == n, "no entry lost, none turned into two jobs")
        let status = try await UpstashStreamIntake(redis: s.client()).status()
        #expect(status.pending == 0 && status.lag == 0)
    }

    /// Upstash answering 503 when a long-running worker starts: it waits for Upstash, saying so
    /// once, and works once it answers. A burst of 503s of a third of a second stopped it with
    /// exit 6, though a worker that runs waits out the same outage.
    @Test func aWorkerStartedDuringAnOutageWaitsForUpstash() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        _ = try await runSDK("""
            from upstash_redis import Redis
            Redis.from_env().xadd("design:jobs", "*", {"input": '{"prompt": "p"}'})
            """, standIn: s)
        try await s.fault(["mode": "status", "status": 503, "count": 40])
        let (p, _, err) = try startJobledger(["work", "--db", folder.path("log.sqlite"), "--intake", "upstash", "--no-effects",
                                              "--step-ms", "0", "--fail-rate", "0"], standIn: s, in: folder)
        func stderr() -> String { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }
        let end = ContinuousClock.now.advanced(by: .seconds(120))
        // The entry's attempt, said by the worker's display once its service group runs (and
        // traps signals: a SIGTERM before that would end the process by its default action).
        while p.isRunning, !stderr().contains("attempt 1 started"), ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        #expect(p.isRunning, "it stopped: \(stderr())")
        #expect(stderr().contains("retrying until it answers") && stderr().contains("Upstash answers again"), "\(stderr())")
        kill(p.processIdentifier, SIGTERM)
        waitForChildExit(p, within: .seconds(600))
        #expect(p.terminationStatus == 0, "\(stderr())")
    }

    @Test func aMissingVariableOrARefusedTokenStopsBeforeTheLogIsTouched() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let db = folder.path("log.sqlite")
        var r = try await runJobledger(["work", "--db", db, "--intake", "upstash", "--until-idle"], standIn: nil, in: folder)
        #expect(r.status == 2 && r.stderr.contains("UPSTASH_REDIS_REST_URL"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
        r = try await runJobledger(["work", "--db", db, "--status-cache", "upstash", "--until-idle"], standIn: nil,
                                   extra: ["UPSTASH_REDIS_REST_URL": "https://x.upstash.io"], in: folder)
        #expect(r.status == 2 && r.stderr.contains("UPSTASH_REDIS_REST_TOKEN"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
        let secret = "refused-token-0b6d3"
        r = try await runJobledger(["work", "--db", db, "--intake", "upstash", "--until-idle"], standIn: s,
                                   extra: ["UPSTASH_REDIS_REST_TOKEN": secret], in: folder)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "refused the token").count == 2, "reported once: \(r.stderr)")
        #expect(!(r.stdout + r.stderr).contains(secret))
        #expect(!FileManager.default.fileExists(atPath: db), "the log is not touched")
        r = try await runJobledger(["intake", "status"], standIn: s, extra: ["UPSTASH_REDIS_REST_TOKEN": secret], in: folder)
        #expect(r.status == 2 && !(r.stdout + r.stderr).contains(secret))
        // The status cache alone: the token was taken, and every status write of the run was
        // refused and dead-lettered (exit 7 at the end, the log written).
        for command in [["work", "--db", db, "--status-cache", "upstash", "--until-idle"],
                        ["project", "--db", db, "--status-cache", "upstash", "--once"]] {
            if command[0] == "project" { _ = try await runJobledger(["submit", "design", "--db", db], standIn: nil, in: folder) }
            let before = try? Data(contentsOf: URL(fileURLWithPath: db))
            r = try await runJobledger(command, standIn: s, extra: ["UPSTASH_REDIS_REST_TOKEN": secret], in: folder)
            #expect(r.status == 2 && r.stderr.contains("Upstash status cache:") && r.stderr.contains("refused the token"), "\(command[0]): \(r.stderr)")
            #expect(!(r.stdout + r.stderr).contains(secret))
            #expect((try? Data(contentsOf: URL(fileURLWithPath: db))) == before, "\(command[0]) left the log as it was")
        }
    }

    @Test func demoFromTheStreamPublishesStatusAndIntakeStatusShowsTheGroup() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let r = try await runJobledger(["demo", "--db", folder.path("demo.sqlite"), "--jobs", "6", "--fail-rate", "0.3",
                                        "--intake", "upstash", "--status-cache", "upstash"], standIn: s, in: folder)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("6 entries added to the Upstash stream design:jobs"))
        #expect(r.stdout.contains("status cache:"))
        let keys = try await s.client().send(["KEYS", "design:jobs:*"]).array?.compactMap(\.string) ?? []
        #expect(keys.filter { $0 != "design:jobs:dead" }.count == 6)
        let st = try await runJobledger(["intake", "status", "--json"], standIn: s, in: folder)
        let v = try JSONValue(parsing: st.stdout)
        #expect(v["length"]?.intValue == 6 && v["pending"]?.intValue == 0 && v["dead_letters"]?.intValue == 0, "\(st.stdout)")
    }

    /// Entries left pending by a consumer that stopped before acknowledging them (a worker
    /// killed with -9; the default consumer name has the pid, so a restart does not read them
    /// as its own) are not taken over before they have been idle for the claim time: an
    /// `--until-idle` run said only "idle", exit 0. It now says they are there and what takes
    /// them over.
    @Test func entriesPendingUnderAStoppedConsumerAreNamedWhenIdle() async throws {
        let s = try await UpstashStandIn.start()
        defer { s.stop() }
        let folder = TempFolder()
        defer { folder.remove() }
        let redis = s.client()
        try await redis.send(["XGROUP", "CREATE", "design:jobs", "jobledger", "0", "MKSTREAM"])
        for i in 0..<3 { try await redis.send(["XADD", "design:jobs", "*", "input", "{\"n\":\(i)}"]) }
        try await redis.send(["XREADGROUP", "GROUP", "jobledger", "stopped-worker", "COUNT", "10", "STREAMS", "design:jobs", ">"])
        let r = try await runJobledger(["work", "--db", folder.path("log.sqlite"), "--intake", "upstash", "--until-idle", "--fail-rate", "0"],
                                       standIn: s, in: folder)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("jobledger: 3 stream entries are pending with other consumers of design:jobs (group jobledger; stopped-worker: 3)"), "\(r.stderr)")
        #expect(r.stderr.contains("idle for 1 min (JOBLEDGER_UPSTASH_CLAIM_IDLE_MS)"), "\(r.stderr)")
        // Once idle long enough (0 ms here), the next run takes them over and says nothing of them.
        let again = try await runJobledger(["work", "--db", folder.path("log.sqlite"), "--intake", "upstash", "--until-idle", "--fail-rate", "0"],
                                           standIn: s, extra: ["JOBLEDGER_UPSTASH_CLAIM_IDLE_MS": "0"], in: folder)
        #expect(again.status == 0 && !again.stderr.contains("pending with other consumers"), "\(again.stderr)")
        let ledger = try Ledger.openReadOnly(path: folder.path("log.sqlite"))
        #expect(try ledger.jobListPage(limit: 10).counts[.completed] == 3)
    }
}
