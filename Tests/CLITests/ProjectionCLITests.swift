import Foundation
import GRDB
import JobLedgerTestSupport
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Testing

/// A log of `jobs` finished jobs, each with a preview and a final image, written in-process.
func logOfFinishedJobs(_ db: String, jobs: Int) async throws -> [JobID] {
    let ledger = try Ledger.open(path: db)
    var ids: [JobID] = []
    for i in 0..<jobs {
        let job = JobID.generate()
        let preview = try await ledger.stageAsset(Data("preview \(i)".utf8), contentType: "image/png")
        let final = try await ledger.stageAsset(Data("final \(i)".utf8), contentType: "image/png")
        let lease = Timestamp.now.adding(milliseconds: 60_000)
        let events: [EventPayload] = [
            .queued(.init(kind: "design")), .started(.init(worker: "w", attempt: 1, leaseDeadline: lease)),
            .progress(.init(fraction: 0.3, message: "a", attempt: 1)), .lowres(.init(asset: preview, attempt: 1)),
            .progress(.init(fraction: 0.6, message: "b", attempt: 1)), .completed(.init(asset: final, output: ["n": .int(Int64(i))], attempt: 1)),
        ]
        _ = try await ledger.append(events.map { NewEvent(job: job, payload: $0) })
        ids.append(job)
    }
    return ids
}

func startProject(_ args: [String]) throws -> Process {
    let p = Process()
    p.executableURL = try #require(jobledgerBinary) as URL
    p.arguments = ["project"] + args
    p.standardError = FileHandle.nullDevice
    p.standardOutput = FileHandle.nullDevice
    try startChild(p)
    return p
}

@Suite struct ProjectionCLITests {
    /// `project` is killed with SIGKILL mid-stream; a second run resumes from the stored
    /// checkpoints: every event applied to the jobs table exactly once, every upload and
    /// broadcast made (at least once), nothing left pending.
    @Test func aKilledProjectionResumesFromItsCheckpointsAndLosesNothing() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 2000)
        let ledger = try Ledger.open(path: db, create: false)
        let events = Int64(try ledger.eventCount())

        let p = try startProject(["--db", db])
        // Bounded wait (no sleeping) until the projections are part-way through the log.
        let deadline = ContinuousClock.now.advanced(by: childDeadline)
        var started = false, midway = false
        while ContinuousClock.now < deadline {
            let s = (try? ledger.projectionStatus()) ?? []
            if s.contains(where: { $0.checkpoint > 0 }) { started = true; midway = s.contains { $0.checkpoint < events }; break }
            await Task.yield()
        }
        kill(p.processIdentifier, SIGKILL)
        await waitForExit(p, "project after SIGKILL")
        #expect(p.terminationReason == .uncaughtSignal)
        try #require(started, "`jobledger project` took in nothing within \(childDeadline)")
        try #require(midway, "the projections finished before the kill; the test needs a longer log")
        let before = try ledger.projectionStatus()
        #expect(before.contains { $0.checkpoint < events })

        let r = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(r.status == 0, "\(r)")
        let after = try ledger.projectionStatus()
        for s in after {
            #expect(s.checkpoint == events, "\(s.name)")
            #expect(s.pending == 0 && s.dead == 0, "\(s.name): \(s)")
        }
        // Exactly once: the jobs table applied each event once, across the kill.
        #expect(after.first { $0.name == .jobs }?.applied == events)
        // At least once, nothing lost: every upload is published, every event's message sent
        // (or superseded by a later one of its job).
        let blob = after.first { $0.name == .blob }!
        #expect(blob.sent == 2 * jobs.count)
        let broadcast = after.first { $0.name == .broadcast }!
        #expect(Int64(broadcast.sent + broadcast.coalesced) == events)
        let urls = try ledger.blobURLs()
        #expect(urls.count == 2 * jobs.count)
        for url in urls.values.prefix(50) { #expect(FileManager.default.fileExists(atPath: URL(string: url)!.path)) }
        let terminal = Set(try ledger.outboxItems(.broadcast, status: .sent, limit: Int.max).filter { $0.type == .completed }.map(\.job))
        #expect(terminal.count == jobs.count && Set(jobs).subtracting(terminal).isEmpty)
        let check = try await jobledger(["replay", "--check", "--db", db], in: scratch)
        #expect(check.status == 0, "\(check)")
    }

    /// `projections rebuild` beside a running `work` on the same file: both processes keep the
    /// jobs table, so after the reset the worker applies part of the log too. The rebuild said
    /// "rebuilt from N events" with N only the events it applied itself; it now says how many
    /// events the table holds, through which seq, and who applied them.
    @Test func rebuildBesideARunningWorkerSaysWhatTheTableHolds() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        _ = try await logOfFinishedJobs(db, jobs: 2000)
        let ledger = try Ledger.open(path: db, create: false)
        let head = try #require(try ledger.head()).seq

        let worker = Process()
        worker.executableURL = try #require(jobledgerBinary) as URL
        worker.arguments = ["work", "--db", db, "--no-effects"]
        worker.standardError = FileHandle.nullDevice
        worker.standardOutput = FileHandle.nullDevice
        try startChild(worker)
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        // Bounded wait until the worker's jobs table is up with the log (a 1 ms nap per look, so
        // the child gets the CPU on a small machine).
        let deadline = ContinuousClock.now.advanced(by: childDeadline)
        while ContinuousClock.now < deadline, (try? ledger.checkpoint(of: .jobs).checkpoint) != head { try? await Task.sleep(for: .milliseconds(1)) }
        try #require(try ledger.checkpoint(of: .jobs).checkpoint == head, "the worker did not keep the jobs table")

        let r = try await jobledger(["projections", "rebuild", "--db", db], in: scratch)
        kill(worker.processIdentifier, SIGTERM)
        await waitForExit(worker, "work after SIGTERM")
        #expect(r.status == 0, "\(r)")
        let status = try #require(try ledger.projectionStatus([.jobs]).first)
        #expect(status.checkpoint == head && status.applied == head, "\(status)")
        // What it prints is what the table holds, whoever applied it.
        let line = r.stdout.trimmingCharacters(in: .newlines)
        #expect(line.hasPrefix("jobs: rebuilt from \(head) events, through seq \(head)"), "\(r)")
        if let here = line.firstMatch(of: /\((\d+) applied by this command, (\d+) by another process/) {
            #expect(Int64(here.1)! + Int64(here.2)! == head && Int64(here.2)! > 0, "\(line)")
        } else {
            #expect(line == "jobs: rebuilt from \(head) events, through seq \(head)", "\(line)")
        }
    }

    /// An app's state projection whose `apply` throws: `projections status` lists it, with
    /// its error as LAST ERROR (it was missing: the failed batch rolled back its row too).
    @Test func projectionsStatusShowsAStateProjectionThatFailed() async throws {
        struct Refusing: StateProjection {
            struct Refusal: Error, CustomStringConvertible { var description: String { "the kinds ledger is out of ink" } }
            let name = ProjectionName("kinds")
            func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws { throw Refusal() }
            func reset(_ db: Database) throws {}
        }
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        _ = try await logOfFinishedJobs(db, jobs: 1)
        let ledger = try Ledger.open(path: db, create: false)
        let runner = ProjectionRunner(ledger: ledger, state: [JobsTableProjection(), Refusing()], effects: [])
        await #expect(throws: LedgerError.projectionFailed(projection: "kinds", reason: "the kinds ledger is out of ink")) { try await runner.catchUp() }

        let json = try await jobledger(["projections", "status", "--db", db, "--json"], in: scratch)
        #expect(json.status == 0, "\(json)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let kinds = try #require(rows.first { $0["name"] as? String == "kinds" }, "\(json.stdout)")
        #expect(kinds["last_error"] as? String == "the kinds ledger is out of ink" && kinds["lag"] as? Int == 6, "\(kinds)")
        let text = try await jobledger(["projections", "status", "--db", db], in: scratch)
        #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("kinds") && $0.hasSuffix("the kinds ledger is out of ink") }, "\(text)")
    }

    @Test func replayCheckNamesTheJobAndFieldThatDrifted() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 3)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        let ok = try await jobledger(["replay", "--check", "--db", db], in: scratch)
        #expect(ok.status == 0 && ok.stdout.hasPrefix("ok: the stored jobs table (3 jobs"), "\(ok)")

        try rawSQL(db, "UPDATE jobs SET progress = 0.5, state = 'failed' WHERE id = '\(jobs[1])'")
        try rawSQL(db, "DELETE FROM jobs WHERE id = '\(jobs[2])'")
        try rawSQL(db, "UPDATE jobs SET owner = 'user_mallory' WHERE id = '\(jobs[0])'")   // who may see it is checked too
        let drift = try await jobledger(["replay", "--check", "--db", db], in: scratch)
        #expect(drift.status == 1, "\(drift)")
        #expect(drift.stdout.contains("drift: job \(jobs[0]) field owner: stored \"user_mallory\", rebuilt null"), "\(drift)")
        #expect(drift.stdout.contains("drift: job \(jobs[1]) field state: stored \"failed\", rebuilt \"completed\""), "\(drift)")
        #expect(drift.stdout.contains("drift: job \(jobs[1]) field progress: stored 0.5, rebuilt 1"), "\(drift)")
        #expect(drift.stdout.contains("drift: job \(jobs[2]): in the log, missing from the stored jobs table"), "\(drift)")
        #expect(drift.stdout.contains("FAILED: 4 differences"))
    }

    @Test func stateAsOfShowsTheJobThenAndWhatItsBrowserHadBeenSent() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 2)
        #expect(try await jobledger(["project", "--once", "--db", db, "--no-effects"], in: scratch).status == 0)
        // Job 2 is seq 7…12; as of seq 9 it is running at 30 %, three messages made, none sent.
        let r = try await jobledger(["state", "\(jobs[1])", "--as-of", "9", "--db", db, "--json"], in: scratch)
        #expect(r.status == 0, "\(r)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let row = try #require(o["row"] as? [String: Any])
        #expect(row["state"] as? String == "running" && row["progress"] as? Double == 0.3 && row["version"] as? Int == 3)
        let messages = try #require(o["messages"] as? [[String: Any]])
        #expect(messages.compactMap { ($0["data"] as? [String: Any])?["seq"] as? Int } == [7, 8, 9])
        #expect(messages.allSatisfy { ($0["delivery"] as? String)?.hasPrefix("not sent") == true })

        let yesterday = try await jobledger(["state", "\(jobs[1])", "--as-of", "yesterday", "--db", db], in: scratch)
        #expect(yesterday.status == 64, "a malformed option value is a usage error: \(yesterday)")
        #expect(yesterday.stderr.contains("--as-of must be a seq"), "\(yesterday)")
        expectRefusal(try await jobledger(["state", "\(jobs[1])", "--as-of", "3", "--db", db], in: scratch), exit: 3, mentions: ["did not exist yet", "seq 3"])
        let unknown = JobID.generate()
        expectRefusal(try await jobledger(["state", "\(unknown)", "--db", db], in: scratch), exit: 3, mentions: ["no such job", "\(unknown)"])
    }

    /// A seq past the log's head is now: the messages sent since the job's last event count as
    /// sent (they were judged against that event's time, and all read "not yet sent then").
    @Test func stateAsOfASeqPastTheHeadIsNow() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 2)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        let r = try await jobledger(["state", "\(jobs[0])", "--as-of", "1000", "--db", db, "--json"], in: scratch)
        #expect(r.status == 0, "\(r)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let messages = try #require(o["messages"] as? [[String: Any]])
        #expect(messages.count == 6 && messages.allSatisfy { ($0["delivery"] as? String)?.hasPrefix("sent ") == true }, "\(messages)")
        let text = try await jobledger(["state", "\(jobs[0])", "--as-of", "1000", "--db", db], in: scratch)
        #expect(text.stdout.contains("past the log's head, seq 12: as of now"), "\(text.stdout)")
    }

    @Test func diffNamesWhatChangedBetweenTwoPointsAndTwoFiles() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 2)
        let points = try await jobledger(["diff", "--db", db, "@3", "@9"], in: scratch)
        #expect(points.status == 1, "\(points)")
        #expect(points.stdout.contains("~ \(jobs[0])") && points.stdout.contains("progress: 0.3 → 1"), "\(points)")
        #expect(points.stdout.contains("+ \(jobs[1]) only on the right (running, v3)"), "\(points)")
        #expect(points.stdout.hasSuffix("2 jobs differ\n"))
        // An exported and re-imported copy replays to the same jobs.
        let export = try await jobledger(["export", "--db", db], in: scratch)
        try Data(export.stdout.utf8).write(to: URL(fileURLWithPath: scratch.path("log.ndjson")))
        #expect(try await jobledger(["import", "--db", scratch.path("copy.sqlite"), scratch.path("log.ndjson")], in: scratch).status == 0)
        let same = try await jobledger(["diff", db, scratch.path("copy.sqlite")], in: scratch)
        #expect(same.status == 0 && same.stdout.hasSuffix("no differences\n"), "\(same)")
        expectRefusal(try await jobledger(["diff", "--db", db, "@3", "@soon"], in: scratch), exit: 2, mentions: ["@soon"])
    }

    @Test func projectionsShowsDeadItemsAndRetryRedrivesThem() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        _ = try await logOfFinishedJobs(db, jobs: 2)
        // The blob folder is a file: every upload fails and, with one try allowed, is dead.
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: scratch.path("blocked")))
        let first = try await jobledger(["project", "--once", "--db", db, "--blobs", scratch.path("blocked"), "--max-attempts", "1"], in: scratch)
        // Dead items are effects still owed: exit 7, and what re-drives them.
        #expect(first.status == 7, "\(first)")
        #expect(first.stderr.contains("projections: blob still owes 4 dead"), "\(first.stderr)")
        #expect(first.stderr.contains("jobledger projections retry blob --db \(db)"), "\(first.stderr)")
        let status = try await jobledger(["projections", "--db", db, "--json"], in: scratch)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]])
        let blob = try #require(list.first { $0["name"] as? String == "blob" })
        #expect(blob["dead"] as? Int == 4 && blob["sent"] as? Int == 0, "\(blob)")
        #expect((blob["last_error"] as? String)?.contains("cannot write") == true, "\(blob)")
        let table = try await jobledger(["projections", "--db", db], in: scratch)
        #expect(table.stdout.contains("blob") && table.stdout.contains("cannot write"), "\(table)")

        let retry = try await jobledger(["projections", "retry", "blob", "--db", db], in: scratch)
        #expect(retry.status == 0 && retry.stdout.hasPrefix("blob: 4 dead items queued again"), "\(retry)")
        let second = try await jobledger(["project", "--once", "--db", db, "--blobs", scratch.path("blobs")], in: scratch)
        #expect(second.status == 0, "\(second)")
        let ledger = try Ledger.open(path: db, create: false)
        let b = try #require(try ledger.projectionStatus().first { $0.name == .blob })
        #expect(b.sent == 4 && b.dead == 0)
        // Dead progress messages that later messages of their job supersede are not sent again:
        // said, so that the count matches the DEAD column (it said "N queued again", fewer).
        let broadcast = try #require(try ledger.projectionStatus().first { $0.name == .broadcast })
        try rawSQL(db, "UPDATE outbox SET status = 'dead' WHERE projection = 'broadcast'")
        let progress = try await ledger.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox o WHERE projection = 'broadcast' AND supersedable = 1 AND EXISTS "
                             + "(SELECT 1 FROM outbox l WHERE l.projection = o.projection AND l.job_id = o.job_id AND l.seq > o.seq)") ?? 0
        }
        #expect(progress > 0)
        let mixed = try await jobledger(["projections", "retry", "broadcast", "--db", db], in: scratch)
        let requeued = broadcast.sent + broadcast.coalesced - progress
        #expect(mixed.status == 0 && mixed.stdout.hasPrefix("broadcast: \(requeued) dead items queued again; \(progress) superseded by a later message of their job"), "\(mixed)")
        expectRefusal(try await jobledger(["projections", "retry", "jobs", "--db", db], in: scratch), exit: 2, mentions: ["'jobs' is not an effect projection"])
        // A misspelt name is said, not taken for a projection with nothing dead.
        expectRefusal(try await jobledger(["projections", "retry", "blobs", "--db", db], in: scratch), exit: 2,
                      mentions: ["no effect projection named 'blobs'", "known: blob, broadcast, status-cache"])
        expectRefusal(try await jobledger(["tail", "--projection", "brodcast", "--db", db], in: scratch), exit: 2,
                      mentions: ["no effect projection named 'brodcast'"])
    }

    /// Another live process owns the effect projections: `project --once` says so and exits 5
    /// instead of pretending there was nothing to do.
    /// A worker beside this one holds the effect projections' leases: what they owe is that
    /// worker's to deliver, so `work --until-idle` exits 0, and says it left it to that worker.
    @Test func workUntilIdleLeavesWhatAnotherWorkerRunsToIt() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"beside"}"#], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let ledger = try Ledger.open(path: db)
        var o = ProjectionRunner.Options(owner: "the-other-worker")
        o.leaseMilliseconds = 3_600_000
        let other = ProjectionRunner(ledger: ledger, blobs: LocalFolderBlobStore(path: db + ".blobs"), broadcasts: BroadcastHub(), options: o)
        try await other.catchUp()
        let r = try await jobledger(["work", "--db", db, "--until-idle", "--fail-rate", "0", "--step-ms", "0"], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("projections: broadcast is run by another process (the-other-worker)"), "\(r.stderr)")
        #expect(!r.stderr.contains("finish with"), "\(r.stderr)")
    }

    @Test func projectOnceSaysWhenAnotherProcessOwnsTheProjections() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        _ = try await logOfFinishedJobs(db, jobs: 1)
        #expect(try await jobledger(["project", "--once", "--db", db, "--no-effects"], in: scratch).status == 0)
        let until = Timestamp.now.milliseconds + 3_600_000
        try rawSQL(db, "INSERT INTO projections (name, owner, lease_until, updated_at) VALUES ('broadcast', 'elsewhere:42', \(until), 0)")
        let r = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(r.status == 5, "\(r)")
        #expect(r.stderr.contains("broadcast not run here: elsewhere:42 is running it"), "\(r)")
        let ledger = try Ledger.open(path: db, create: false)
        #expect(try ledger.projectionStatus().first { $0.name == .blob }?.sent == 2)  // the blob projection did run
    }

    /// A followed log deleted (or replaced by a new one at its path) takes no more writes:
    /// `tail` says so and stops, exit 6, instead of waiting silently for ever.
    @Test func tailStopsWhenItsLogIsDeleted() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        _ = try await logOfFinishedJobs(db, jobs: 1)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["tail", "--after", "0", "--poll-ms", "20", "--db", db], in: scratch)
        // Following: it has printed what was sent so far.
        #expect(await waitForLine(containing: #""stream""#, in: pipe.fileHandleForReading) != nil)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        let said = await waitForLine(containing: "was deleted or replaced while followed", in: pipe.fileHandleForReading)
        await waitForExit(p, "tail of a deleted log")
        #expect(said != nil)
        #expect(p.terminationStatus == 6)
    }

    @Test func tailPrintsTheMessagesSentAsJSONLines() async throws {
        let scratch = Scratch()
        let db = scratch.path("log.sqlite")
        let jobs = try await logOfFinishedJobs(db, jobs: 2)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        let r = try await jobledger(["tail", "--no-follow", "--job", "\(jobs[0])", "--db", db], in: scratch)
        #expect(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.allSatisfy { $0?["stream"] as? String == "job:\(jobs[0])" })
        let versions = lines.compactMap { ($0?["data"] as? [String: Any])?["version"] as? Int }
        #expect(versions.first == 1 && versions.last == 6 && versions == versions.sorted())
    }
}
