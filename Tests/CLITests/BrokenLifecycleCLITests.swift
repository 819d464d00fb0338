import Foundation
import GRDB
import Testing

/// A log whose stored events break their job's lifecycle (an event deleted behind the
/// triggers) cannot be folded by the commands that show or change a job. They still stop (exit
/// 6, as for a damaged file), but say that the log was changed and what to run, instead of
/// "storage error: job …: cannot apply 'progress' to a queued job", which reads like a refusal
/// of something the operator asked for.
@Suite struct BrokenLifecycleCLITests {
    @Test(arguments: [["history"], ["state"], ["cancel"], ["jobs"], ["replay"]])
    func aLogWithADeletedEventSaysItWasChangedAndWhatToRun(_ command: [String]) async throws {
        let scratch = Scratch()
        let job = try await logWithCompletedJob("log.sqlite", in: scratch)
        // seq 2 is the job's `started`: its `progress` (seq 3) now follows `queued`.
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2")
        let verify = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verify.status == 1 && verify.stdout.contains("FAILED at seq 2"), "\(verify)")

        let args = ["history", "state", "cancel"].contains(command[0]) ? command + [job] : command
        let r = try await jobledger(args + ["--db", "log.sqlite"], in: scratch)
        // `cancel` folds the job from its own events, which first finds the version missing.
        let why = command[0] == "cancel" ? "an event at version 3 where version 2 comes next" : "cannot apply 'progress' to a queued job"
        expectRefusal(r, exit: 6, mentions: [
            "log.sqlite holds events that break their job's lifecycle",
            why,
            "the log was changed after they were recorded",
            "(jobledger verify, jobledger import)",
        ])
    }

    /// An event put in behind the log's back at a version its job never reached (an INSERT:
    /// the triggers refuse only UPDATE and DELETE) was folded as if its version were the next:
    /// `cancel` committed a `canceled` at version 2 after the stored 5, then said it failed
    /// (exit 6), and `append` wrote it and said nothing. Both are refused now, writing nothing.
    @Test func anEventAtAVersionItsJobNeverReachedStopsWritesToThatJob() async throws {
        let scratch = Scratch()
        _ = try await logWithCompletedJob("log.sqlite", in: scratch)
        let path = scratch.path("log.sqlite")
        let zeros = String(repeating: "0", count: 64)
        try rawSQL(path, """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, payload_digest, prev_hash, hash)
            VALUES (5, 'x-2', 5, 'queued', '{"input":{},"kind":"design","max_attempts":3,"priority":0}', 0, '\(zeros)', '\(zeros)', '\(zeros)')
            """)
        let count = "SELECT count(*) FROM events"
        for args in [["cancel", "x-2"], ["append", "--job", "x-2", "--type", "canceled", "--payload", #"{"reason":"r"}"#]] {
            let r = try await jobledger(args + ["--db", "log.sqlite"], in: scratch)
            expectRefusal(r, exit: 6, mentions: [
                "log.sqlite holds events that break their job's lifecycle",
                "job x-2: an event at version 5 where version 1 comes next",
            ])
            #expect(try rows(path, count) == ["5"], "\(args[0]) wrote an event")
        }
    }

    /// An event put in at a seq no append gives: at `Int64.max`, every writer trapped on
    /// `seq + 1` (exit 132 and a backtrace); at −5, `export` left it out of an export it said
    /// held every event as stored. Writers now refuse the log at open (exit 6, nothing
    /// written); `export` writes every stored event, and says the log does not verify.
    @Test func anEventAtASeqNoAppendGivesIsRefusedByWritersAndExported() async throws {
        let scratch = Scratch()
        _ = try await logWithCompletedJob("log.sqlite", in: scratch)
        let path = scratch.path("log.sqlite")
        let zeros = String(repeating: "0", count: 64)
        for seq in [Int64.max, -5] {
            try rawSQL(path, """
                INSERT INTO events (seq, job_id, version, type, payload, recorded_at, payload_digest, prev_hash, hash)
                VALUES (\(seq), 'ghost\(seq < 0 ? "-low" : "-high")', 1, 'queued', '{"input":{},"kind":"design","max_attempts":3,"priority":0}', 0, '\(zeros)', '\(zeros)', '\(zeros)')
                """)
            for args in [["submit", "design"], ["work", "--until-idle"], ["project", "--once"]] {
                let r = try await jobledger(args + ["--db", "log.sqlite"], in: scratch)
                expectRefusal(r, exit: 6, mentions: ["log.sqlite holds an event at seq \(seq), which no append gives", "(jobledger verify, jobledger import)"])
                #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("overflow"), "\(args[0]) \(seq): \(r)")
            }
            #expect(try rows(path, "SELECT count(*) FROM events") == [seq < 0 ? "6" : "5"])
        }
        let export = try await jobledger(["export", "--db", "log.sqlite"], in: scratch)
        #expect(export.status == 1 && export.stdout.contains("ghost-low") && export.stdout.contains("ghost-high"), "\(export)")
        #expect(export.stdout.split(separator: "\n").first?.contains("\"seq\":-5") == true, "the lowest seq first: \(export.stdout.prefix(300))")
    }

    /// `projections rebuild` on such a log is refused before it empties the table: it emptied
    /// it (checkpoint 0), then stopped at the bad event, so the refusal had destroyed the one
    /// table `jobs` could still read.
    @Test func rebuildIsRefusedBeforeTheTableIsEmptied() async throws {
        let scratch = Scratch()
        let job = try await logWithCompletedJob("log.sqlite", in: scratch)
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", "log.sqlite"], in: scratch)
        #expect(project.status == 0, "\(project)")
        let path = scratch.path("log.sqlite")
        try rawSQL(path, "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2")
        let table = "SELECT id || ' ' || state || ' ' || version || ' ' || (SELECT checkpoint FROM projections WHERE name = 'jobs') FROM jobs"
        let before = try rows(path, table)
        #expect(before == ["\(job) completed 4 4"])

        let r = try await jobledger(["projections", "rebuild", "--db", "log.sqlite"], in: scratch)
        expectRefusal(r, exit: 6, mentions: ["log.sqlite holds events that break their job's lifecycle", "(jobledger verify, jobledger import)"])
        #expect(try rows(path, table) == before, "the refused rebuild changed the jobs table")
        let jobs = try await jobledger(["jobs", "--db", "log.sqlite"], in: scratch)
        #expect(jobs.status == 0 && jobs.stdout.contains(job), "\(jobs)")
    }

    func rows(_ path: String, _ sql: String) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in try String.fetchAll(db, sql: sql) }
    }
}
