import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
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

/// Runs `jobledger ARGS…` with extra environment (none of the caller's Vercel Blob variables),
/// killing it at a deadline; returns its exit status and output.
func runJobledger(_ args: [String], environment extra: [String: String] = [:], in folder: TempFolder,
                  deadline: Duration = .seconds(300)) async throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = try #require(jobledgerExecutable, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN") as URL
    p.arguments = args
    p.currentDirectoryURL = folder.url
    var env = ProcessInfo.processInfo.environment
    for k in env.keys where k.hasPrefix("BLOB_") || k.hasPrefix("VERCEL_") || k.hasPrefix("NEXT_PUBLIC_VERCEL_") || k.hasPrefix("JOBLEDGER_VERCEL_") {
        env.removeValue(forKey: k)
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
    let end = ContinuousClock.now.advanced(by: deadline)
    while p.isRunning && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
    if p.isRunning {
        p.terminate()
        Issue.record("jobledger \(args.joined(separator: " ")) did not exit within \(deadline); terminated")
    }
    waitForChildExit(p, within: .seconds(600))
    return (p.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self), String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

@Suite(.serialized) struct CLITests {
    /// `demo --blob-store vercel` against a stand-in that fails its first uploads with 503 (and
    /// loses one answer): the demo waits them out and ends only when every preview and final
    /// image is there; the URLs in the jobs table, `state` and `replay --effects` are the
    /// stand-in's; the token is in no output.
    @Test func demoPublishesEveryArtefactThroughAnOutageAndEveryCommandShowsTheSameURLs() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        // Six 503s: with one retry inside the store, three failed deliveries, whose jittered backoff
        // stays well inside the drain bound given below (ten made a fifth try land past it at times).
        try await standIn.fault(["mode": "status", "status": 503, "count": 6])
        try await standIn.fault(["mode": "lose_response", "op": "put", "count": 1])
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let r = try await runJobledger(["demo", "--db", db, "--jobs", "6", "--fail-rate", "0", "--blob-store", "vercel", "--drain", "60"],
                                       environment: standIn.environment.merging(["JOBLEDGER_VERCEL_BLOB_RETRIES": "1"]) { $1 }, in: folder)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("12 artefacts published to Vercel Blob store \(testStoreID)"), "\(r.stdout)")
        #expect(!r.stdout.contains("still owes"))
        let held = try await standIn.blobs()
        #expect(held.count == 12)
        #expect(try await standIn.stats().byStatus(503) == 6)
        let urls = Set(held.map(\.url))
        #expect(!FileManager.default.fileExists(atPath: db + ".blobs"))

        // The jobs table (`jobs --json`) and `state`.
        let ledger = try Ledger.openReadOnly(path: db)
        let rows = try ledger.currentJobRows()
        #expect(Set(rows.compactMap(\.previewURL) + rows.compactMap(\.resultURL)) == urls)
        let job = try #require(rows.first)
        let resultURL = try #require(job.resultURL)
        let state = try await runJobledger(["state", job.id.rawValue, "--db", db], in: folder)
        #expect(state.status == 0 && state.stdout.contains(resultURL), "\(state.stdout)")
        // replay --effects: every upload and every message with a URL, as the stand-in has it.
        let replay = try await runJobledger(["replay", "--effects", "--json", "--db", db], in: folder)
        #expect(replay.status == 0, "\(replay.stderr)")
        var seen: Set<String> = []
        for line in replay.stdout.split(separator: "\n") {
            let v = try JSONValue(parsing: String(line))
            for key in ["preview_url", "result_url"] { if let u = v["data"]?[key]?.stringValue { seen.insert(u) } }
        }
        #expect(seen == urls)
        // A copy of the log without its URLs (export, import): replay with --blob-store vercel
        // shows the same URLs, predicted from the store id, without the network.
        let ndjson = folder.path("copy.ndjson"), copy = folder.path("copy.sqlite")
        let exported = try await runJobledger(["export", "--db", db], in: folder)
        #expect(exported.status == 0)
        try Data(exported.stdout.utf8).write(to: URL(fileURLWithPath: ndjson))
        #expect(try await runJobledger(["import", ndjson, "--db", copy], in: folder).status == 0)
        standIn.stop()  // no network from here on
        let offline = try await runJobledger(["replay", "--effects", "--db", copy, "--blob-store", "vercel"],
                                             environment: ["BLOB_READ_WRITE_TOKEN": testToken], in: folder)
        #expect(offline.status == 0, "\(offline.stderr)")
        for u in urls { #expect(offline.stdout.contains(u), "\(u)") }
        let asOf = try await runJobledger(["state", job.id.rawValue, "--db", copy, "--blob-store", "vercel"],
                                          environment: ["BLOB_READ_WRITE_TOKEN": testToken], in: folder)
        #expect(asOf.stdout.contains(resultURL), "\(asOf.stdout)")
        for out in [r, state, replay, offline, asOf] { #expect(!(out.stdout + out.stderr).contains("Secret0123")) }
    }

    /// A wrong token: every upload is a dead letter; `demo` ends with exit 7 and says what to fix,
    /// without the token.
    @Test func aWrongTokenEndsTheDemoWithDeadLettersSayingWhatToFix() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let wrong = "vercel_blob_rw_\(testStoreID)_WrongWrongWrong42"
        let r = try await runJobledger(["demo", "--db", db, "--jobs", "2", "--fail-rate", "0", "--blob-store", "vercel"],
                                       environment: ["BLOB_READ_WRITE_TOKEN": wrong, "VERCEL_BLOB_API_URL": standIn.apiURL.absoluteString],
                                       in: folder)
        #expect(r.status == 7, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("projections: blob still owes") && r.stdout.contains("dead"), "\(r.stdout)")
        #expect(r.stdout.contains("BLOB_READ_WRITE_TOKEN"), "\(r.stdout)")
        #expect(!(r.stdout + r.stderr).contains("WrongWrongWrong42"))
        #expect(try await standIn.blobs().isEmpty)
    }

    /// The configuration is checked before the log is touched: a missing or malformed token is
    /// exit 2 naming the variable (never its value), and no log is created.
    @Test(arguments: [("work", ""), ("demo", ""), ("project", "vercel_blob_rw_nope"), ("work", "vercel_blob_rw_st_SECRETSECRET x")])
    func aBadConfigurationStopsBeforeTheLogIsTouched(_ command: String, _ token: String) async throws {
        let folder = TempFolder()
        let db = folder.path("never.sqlite")
        var args = [command, "--db", db, "--blob-store", "vercel"]
        if command == "work" { args.append("--until-idle") }
        let r = try await runJobledger(args, environment: token.isEmpty ? [:] : ["BLOB_READ_WRITE_TOKEN": token], in: folder)
        #expect(r.status == 2, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("BLOB_READ_WRITE_TOKEN"), "\(r.stderr)")
        #expect(!r.stderr.contains("SECRETSECRET") && !r.stderr.contains("rw_nope"))
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func blobsFolderAndVercelAreExclusive() async throws {
        let folder = TempFolder()
        let r = try await runJobledger(["blobs", "list", "--blob-store", "vercel", "--blobs", "x"], environment: ["BLOB_READ_WRITE_TOKEN": testToken], in: folder)
        #expect(r.status == 64, "\(r.stderr)")
    }

    /// `blobs prune`: a dry run lists the artefacts of the jobs finished before the time and
    /// changes nothing; `--apply` deletes exactly those, and the log records it (a
    /// jobledger.blobs.prune job whose events name what was deleted and why).
    @Test func pruneDeletesExactlyTheOldJobsArtefactsAndRecordsIt() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let folder = TempFolder()
        let db = folder.path("log.sqlite")
        let env = standIn.environment
        let old = try await runJobledger(["demo", "--db", db, "--jobs", "3", "--fail-rate", "0", "--blob-store", "vercel"], environment: env, in: folder)
        #expect(old.status == 0, "\(old.stdout)\n\(old.stderr)")
        try await Task.sleep(for: .milliseconds(50))
        let cutoff = Timestamp.now
        try await Task.sleep(for: .milliseconds(50))
        for i in 0..<2 {
            #expect(try await runJobledger(["submit", "design", "--db", db, "--input", "{\"n\":\(i)}"], in: folder).status == 0)
        }
        let newer = try await runJobledger(["work", "--db", db, "--until-idle", "--fail-rate", "0", "--blob-store", "vercel"], environment: env, in: folder)
        #expect(newer.status == 0, "\(newer.stderr)")
        let queued = try await runJobledger(["submit", "design", "--db", db], in: folder)  // never run: no artefacts, untouched
        #expect(queued.status == 0)
        let before = try await standIn.blobs()
        #expect(before.count == 10)

        let ledger = try Ledger.openReadOnly(path: db)
        let oldJobs = Set(try ledger.jobStates().values.filter { ($0.finishedAt ?? .now) < cutoff }.map(\.id.rawValue))
        #expect(oldJobs.count == 3)
        func job(_ p: String) -> String { String(p.split(separator: "/")[1]) }
        let doomed = Set(before.map(\.pathname).filter { oldJobs.contains(job($0)) })
        #expect(doomed.count == 6)

        let list = try await runJobledger(["blobs", "list", "--db", db, "--blob-store", "vercel"], environment: env, in: folder)
        #expect(list.status == 0 && before.allSatisfy { list.stdout.contains($0.url) }, "\(list.stdout)")
        #expect(list.stdout.contains("completed"))

        let events = try ledger.eventCount()
        let dry = try await runJobledger(["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff.iso8601],
                                         environment: env, in: folder)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would delete 6 blobs"), "\(dry.stdout)")
        #expect(doomed.allSatisfy { dry.stdout.contains($0) })
        #expect(dry.stdout.contains("dry run: nothing was deleted"))
        #expect(try await standIn.blobs().count == 10)
        #expect(try await standIn.stats().byOp("delete") == 0)
        #expect(try Ledger.openReadOnly(path: db).eventCount() == events)

        let apply = try await runJobledger(["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff.iso8601,
                                            "--apply", "--reason", "30-day retention"], environment: env, in: folder)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        #expect(apply.stdout.contains("blobs prune: deleted 6/6 blobs"), "\(apply.stdout)")
        let after = try await standIn.blobs()
        #expect(Set(after.map(\.pathname)) == Set(before.map(\.pathname)).subtracting(doomed))
        // Recorded: a completed prune job whose input names the jobs, the pathnames and why.
        let prune = try #require(try Ledger.openReadOnly(path: db).jobStates().values.first { $0.kind == "jobledger.blobs.prune" })
        #expect(prune.status == .completed)
        guard case .array(let paths)? = prune.input["pathnames"], case .array(let jobs)? = prune.input["jobs"] else {
            Issue.record("no pathnames in \(prune.input)"); return
        }
        #expect(Set(paths.compactMap(\.stringValue)) == doomed && Set(jobs.compactMap(\.stringValue)) == oldJobs)
        #expect(prune.input["reason"]?.stringValue == "30-day retention")
        #expect(prune.input["finished_before"]?.stringValue == cutoff.iso8601)
        #expect(prune.output?["deleted"]?.intValue == 6)
        #expect(try await runJobledger(["verify", "--db", db], in: folder).status == 0)
        // Nothing left to prune.
        let again = try await runJobledger(["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff.iso8601, "--yes"],
                                           environment: env, in: folder)
        #expect(again.stdout.contains("nothing to prune"), "\(again.stdout)")
        for out in [old, newer, list, dry, apply, again] { #expect(!(out.stdout + out.stderr).contains("Secret0123")) }
    }

    /// Uploads that died (a rotated token) for jobs that a prune then covers are dropped with
    /// the prune: a re-drive published again the images the log says were deleted.
    @Test func aPruneDropsTheUploadsStillOwedForItsJobsSoARedriveDoesNotPublishThem() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let env = standIn.environment
        // The first three uploads are refused (dead); the fourth is published.
        try await standIn.fault(["mode": "status", "status": 403, "code": "forbidden", "op": "put", "count": 3])
        let demo = try await runJobledger(["demo", "--db", db, "--jobs", "2", "--fail-rate", "0", "--blob-store", "vercel"], environment: env, in: folder)
        #expect(demo.status == 7, "\(demo.stdout)\n\(demo.stderr)")
        #expect(try await standIn.blobs().count == 1)
        let cutoff = "2100-01-01T00:00:00Z"
        let dry = try await runJobledger(["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff], environment: env, in: folder)
        #expect(dry.stdout.contains("and 3 uploads still owed for them (dead or pending), which will not be made"), "\(dry.stdout)")
        let apply = try await runJobledger(["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff, "--apply", "--reason", "retention"],
                                           environment: env, in: folder)
        #expect(apply.status == 0 && apply.stdout.contains("dropped 3 uploads still owed for those jobs"), "\(apply.stdout)\n\(apply.stderr)")
        // The prune job records both jobs, the one with nothing in the store too.
        let prune = try #require(try Ledger.openReadOnly(path: db).jobStates().values.first { $0.kind == "jobledger.blobs.prune" })
        guard case .array(let jobs)? = prune.input["jobs"] else { Issue.record("\(prune.input)"); return }
        #expect(jobs.count == 2)
        // The documented re-drive: nothing is dead any more, and nothing is published again.
        let retry = try await runJobledger(["projections", "retry", "blob", "--db", db], in: folder)
        #expect(retry.stdout.hasPrefix("blob: 0 dead items queued again"), "\(retry.stdout)")
        let project = try await runJobledger(["project", "--once", "--db", db, "--blob-store", "vercel"], environment: env, in: folder)
        #expect(project.status == 0, "\(project.stdout)\n\(project.stderr)")
        #expect(try await standIn.blobs().isEmpty)
    }

    /// A blob projection behind the log at prune time took in the pruned jobs' events later and
    /// published their images after the prune recorded them as deleted. The prune now refuses
    /// (exit 7, nothing deleted) while their artefacts are still to be taken in, and says how to
    /// catch up; after the catch-up it prunes them all.
    @Test func aPruneIsRefusedWhileTheBlobProjectionHasNotTakenInItsJobsArtefacts() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let folder = TempFolder()
        let db = folder.path("demo.sqlite")
        let env = standIn.environment
        let demo = try await runJobledger(["demo", "--db", db, "--jobs", "2", "--fail-rate", "0", "--blob-store", "vercel"], environment: env, in: folder)
        #expect(demo.status == 0, "\(demo.stdout)\n\(demo.stderr)")
        #expect(try await standIn.blobs().count == 4)
        // A third job run with no blob projection: its two artefacts are not taken in yet.
        let submit = try await runJobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"late"}"#], in: folder)
        #expect(submit.status == 0, "\(submit.stderr)")
        let work = try await runJobledger(["work", "--db", db, "--until-idle", "--no-effects", "--fail-rate", "0"], in: folder)
        #expect(work.status == 0, "\(work.stdout)\n\(work.stderr)")
        let cutoff = "2100-01-01T00:00:00Z"
        let prune = ["blobs", "prune", "--db", db, "--blob-store", "vercel", "--finished-before", cutoff]
        let dry = try await runJobledger(prune, environment: env, in: folder)
        #expect(dry.status == 0 && dry.stdout.contains("note: --apply would be refused now: the blob projection has not yet taken in 2 artefacts of 1 job"),
                "\(dry.stdout)\n\(dry.stderr)")
        let refused = try await runJobledger(prune + ["--apply"], environment: env, in: folder)
        #expect(refused.status == 7, "\(refused.stdout)\n\(refused.stderr)")
        #expect(refused.stderr.contains("refused, nothing was deleted") && refused.stderr.contains("jobledger project --once"), "\(refused.stderr)")
        #expect(try await standIn.blobs().count == 4)
        #expect(try Ledger.openReadOnly(path: db).jobStates().values.allSatisfy { $0.kind != "jobledger.blobs.prune" })
        // Caught up, the late job's images are published, and the prune takes all six.
        let project = try await runJobledger(["project", "--once", "--db", db, "--blob-store", "vercel"], environment: env, in: folder)
        #expect(project.status == 0, "\(project.stdout)\n\(project.stderr)")
        #expect(try await standIn.blobs().count == 6)
        let apply = try await runJobledger(prune + ["--apply"], environment: env, in: folder)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        #expect(try await standIn.blobs().isEmpty)
        let again = try await runJobledger(["project", "--once", "--db", db, "--blob-store", "vercel"], environment: env, in: folder)
        #expect(again.status == 0)
        #expect(try await standIn.blobs().isEmpty)
    }
}
