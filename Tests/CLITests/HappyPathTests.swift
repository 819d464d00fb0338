import Foundation
import Testing

@Suite(.timeLimit(.minutes(2)))
struct HappyPathTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    @Test func aJobsWholeLifeThroughTheCLI() async throws {
        // queued without --job: a new UUIDv7 id, and nothing else, on stdout.
        let queued = try await jobledger(["append", "--db", db, "--type", "queued", "--payload", #"{"kind":"design"}"#], in: scratch)
        #expect(queued.status == 0, "\(queued)")
        let job = try #require(queued.stdout.wholeMatch(of: #/([0-9a-f-]{36})\n/#)?.1).description
        #expect(job.wholeMatch(of: uuidV7) != nil, "\(queued)")
        // The first write to a log that did not exist says so, with the full path (a mistyped
        // --db shows at once); a later one does not.
        #expect(queued.stderrLines == ["jobledger: created a new log at \(URL(fileURLWithPath: db).standardizedFileURL.path)",
                                       "appended seq 1: job \(job) version 1 queued"])
        let one = try await jobledger(["history", "--db", db, job], in: scratch)
        #expect(one.stdout.hasPrefix("job \(job) · kind design · queued · 1 event\n"), "\(one)")

        for (seq, (type, payload)) in [("started", startedPayload()), ("progress", progressPayload), ("completed", completedPayload)].enumerated() {
            let r = try await jobledger(["append", "--db", db, "--job", job, "--type", type, "--payload", payload], in: scratch)
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout == job + "\n")
            #expect(r.stderrLines == ["appended seq \(seq + 2): job \(job) version \(seq + 2) \(type)"])
        }

        // jobs --json: the job, completed.
        let jobs = try await jobledger(["jobs", "--db", db, "--json"], in: scratch)
        #expect(jobs.status == 0, "\(jobs)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]])
        #expect(list.count == 1)
        #expect(list.first?["id"] as? String == job)
        #expect(list.first?["state"] as? String == "completed")
        #expect(list.first?["kind"] as? String == "design")
        #expect(list.first?["version"] as? Int == 4)

        // jobs --state running: not listed.
        let running = try await jobledger(["jobs", "--db", db, "--state", "running"], in: scratch)
        #expect(running.status == 0, "\(running)")
        #expect(!running.stdout.contains(job))
        let runningJSON = try await jobledger(["jobs", "--db", db, "--state", "running", "--json"], in: scratch)
        #expect(runningJSON.status == 0)
        #expect(runningJSON.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let completed = try await jobledger(["jobs", "--db", db, "--state", "completed"], in: scratch)
        #expect(completed.status == 0)
        #expect(completed.stdout.contains(job))

        // history: a title line and four event lines with what changed.
        let history = try await jobledger(["history", "--db", db, job], in: scratch)
        #expect(history.status == 0, "\(history)")
        let lines = history.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(history)")
        #expect(lines.first == "job \(job) · kind design · completed · 4 events")
        let expected = [("v1", "queued", "new → queued: kind design"),
                        ("v2", "started", "queued → running: attempt 1 of 3 on worker w1"),
                        ("v3", "progress", "progress 0% → 50% “half”"),
                        ("v4", "completed", "running → completed: output {\"ok\":true}")]
        for (line, (version, type, change)) in zip(lines.dropFirst(), expected) {
            #expect(line.hasPrefix("  \(version) "), "\(line)")
            #expect(line.contains(" \(type) "), "\(line)")
            #expect(line.contains(change), "\(line)")
        }

        // history --json: an array of the four events.
        let historyJSON = try await jobledger(["history", "--db", db, job, "--json"], in: scratch)
        #expect(historyJSON.status == 0, "\(historyJSON)")
        let events = try #require(try JSONSerialization.jsonObject(with: Data(historyJSON.stdout.utf8)) as? [[String: Any]])
        #expect(events.count == 4)
        #expect(events.map { $0["type"] as? String } == ["queued", "started", "progress", "completed"])
        #expect(events.map { $0["version"] as? Int } == [1, 2, 3, 4])
        #expect(events.map { $0["state"] as? String } == ["queued", "running", "running", "completed"])
        #expect(events.allSatisfy { ($0["change"] as? String)?.isEmpty == false })
    }

    @Test func historyOfAJobThatIsNotInTheLogIsRefused() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let r = try await jobledger(["history", "--db", db, "job-1"], in: scratch)
        expectRefusal(r, exit: 3, mentions: ["no such job job-1"])
    }

    @Test func aRepeatedIdempotencyKeyReturnsTheFirstJobAndWritesNothing() async throws {
        let args = ["append", "--db", db, "--type", "queued", "--payload", #"{"kind":"design"}"#, "--idempotency-key", "request-42"]
        let first = try await jobledger(args, in: scratch)
        #expect(first.status == 0, "\(first)")
        let job = first.stdout.trimmingCharacters(in: .newlines)
        #expect(job.wholeMatch(of: uuidV7) != nil)
        let before = try await snapshot(db, in: scratch)

        let second = try await jobledger(args, in: scratch)
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout == first.stdout, "the same job id")
        #expect(second.stderrLines.count == 1, "\(second)")
        #expect(second.stderr.contains("idempotency key already used"), "\(second)")
        #expect(second.stderr.contains("nothing written"), "\(second)")

        let after = try await snapshot(db, in: scratch)
        #expect(after == before)
        #expect(after.export.split(separator: "\n").count == 1)
        #expect(after.export.contains(#""idempotency_key":"request-42""#))
    }

    @Test func anSQLiteFileWithAnEmptySchemaBecomesALog() async throws {
        try rawSQL(db, "CREATE TABLE scratch (x); DROP TABLE scratch;")
        let job = try await logWithCompletedJob(db, in: scratch)
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stdout.hasPrefix("ok: 4 events, 1 job"), "\(verify)")
        let history = try await jobledger(["history", "--db", db, job], in: scratch)
        #expect(history.status == 0, "\(history)")
    }

    @Test func demoWritesAVerifiedLogOfFiveFinishedJobs() async throws {
        let r = try await jobledger(["demo", "--jobs", "5", "--db", db], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("verify: ok"), "\(r)")
        // Its header comes first though stdout is a pipe here (it came out after the job lines).
        #expect(r.stdout.hasPrefix("demo: 5 image jobs"), "\(r)")
        let jobs = try await jobledger(["jobs", "--db", db, "--json"], in: scratch)
        #expect(jobs.status == 0, "\(jobs)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]])
        #expect(list.count == 5)
        for job in list {
            #expect(["completed", "failed"].contains(job["state"] as? String ?? "?"), "\(job)")
        }
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func demoRefusesAnExistingFile() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["demo", "--jobs", "5", "--db", db], in: scratch)
        expectRefusal(r, exit: 2, mentions: [db, "already exists"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    /// `--db` naming the default demo log (`./jobledger-demo.sqlite`, spelt any way) is the
    /// default: replaced, as without `--db`. It was refused as an existing file.
    @Test(arguments: ["jobledger-demo.sqlite", "./jobledger-demo.sqlite", "sub/../jobledger-demo.sqlite", "<absolute>"])
    func demoWithTheDefaultPathSpeltOutReplacesItAsTheDefaultDoes(_ spelt: String) async throws {
        let db = spelt == "<absolute>" ? scratch.path("jobledger-demo.sqlite") : spelt
        let old = try await logWithQueuedJob(scratch.path("jobledger-demo.sqlite"), in: scratch)
        try FileManager.default.createDirectory(atPath: scratch.path("jobledger-demo.sqlite.blobs"), withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: scratch.path("jobledger-demo.sqlite.blobs/left-over")))
        let r = try await jobledger(["demo", "--jobs", "1", "--db", db], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("verify: ok: "), "\(r)")
        let jobs = try await jobledger(["jobs", "--db", "jobledger-demo.sqlite", "--json"], in: scratch)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]], "\(jobs)")
        #expect(list.count == 1 && list[0]["id"] as? String != old, "a fresh log of the demo's one job: \(list)")
        #expect(!scratch.exists("jobledger-demo.sqlite.blobs/left-over"), "the old demo's artefacts are gone, as without --db")
    }

    @Test func demoIntoAFolderThatDoesNotExistMakesIt() async throws {
        let r = try await jobledger(["demo", "--jobs", "1", "--db", "new/sub/demo.sqlite"], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(scratch.exists("new/sub/demo.sqlite"))
    }

    @Test func demoNamesTheFolderItCannotMake() async throws {
        try Data().write(to: scratch.url.appendingPathComponent("afile"))
        let r = try await jobledger(["demo", "--jobs", "1", "--db", "afile/sub/demo.sqlite"], in: scratch)
        expectRefusal(r, exit: 6, mentions: ["afile/sub", "afile/sub/demo.sqlite", "afile is a file, not a folder"])
    }

    @Test func helpListsEverySubcommand() async throws {
        let r = try await jobledger(["--help"], in: scratch)
        #expect(r.status == 0, "\(r)")
        let subcommands = r.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        for name in ["demo", "append", "jobs", "history", "verify", "digest", "export", "import", "bench"] {
            #expect(subcommands.contains("\n  \(name) "), "--help should list \(name): \(r.stdout)")
        }
        #expect(r.stdout.contains("Exit codes"))
    }

    @Test func anUnknownOptionIsAUsageError() async throws {
        let r = try await jobledger(["jobs", "--db", db, "--colour"], in: scratch)
        #expect(r.status == 64, "\(r)")
        #expect(!scratch.exists("log.sqlite"))
    }
}
