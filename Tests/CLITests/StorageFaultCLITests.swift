import Foundation
import GRDB
import Testing

/// The log's size in pages, read behind the tool's back.
func pageCount(_ path: String) throws -> Int {
    let queue = try DatabaseQueue(path: path)
    defer { try? queue.close() }
    return try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
}

/// Runs that must end do end on a log that stays full (`JOBLEDGER_MAX_PAGE_COUNT` caps it, as
/// a full disk would): exit 6 shortly after `--storage-wait`, with a message that names the
/// cause and what to do, a few lines in all, and a log that still verifies.
@Suite struct StorageFaultCLITests {
    static let wait = 2.0

    func expectStoppedOnAFullLog(_ r: CLIResult, took: Duration, db: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 6, "\(r)", sourceLocation: sourceLocation)
        // The bound, plus time to stop (generous: a loaded 2-core machine), not minutes.
        #expect(took < .seconds(Self.wait + 60), "took \(took): \(r)", sourceLocation: sourceLocation)
        let last = r.stderrLines.last ?? ""
        #expect(last.hasPrefix("jobledger: storage fault lasted longer than --storage-wait 2 s, stopping: the log \(db) is full"),
                "\(r)", sourceLocation: sourceLocation)
        #expect(last.contains("To fix: free space on the disk that holds it"), "\(r)", sourceLocation: sourceLocation)
        #expect(last.contains("Nothing recorded is lost"), "\(r)", sourceLocation: sourceLocation)
        // A handful of lines, not one per try: the engine's and the projections' start lines,
        // the give-up, the refusal.
        #expect(r.stderrLines.filter { $0.contains("storage fault") || $0.contains("giving up") }.count <= 5, "\(r)", sourceLocation: sourceLocation)
    }

    /// A new log that cannot be made (the disk full before its schema fits) is not left behind
    /// as an empty or half-made file while the message says nothing was written.
    @Test(arguments: [["submit", "design"], ["work", "--until-idle"], ["serve", "--port", "0", "--insecure-no-auth"]])
    func aNewLogThatCannotBeMadeIsNotLeftBehind(command: [String]) async throws {
        let scratch = Scratch()
        let r = try await jobledger(command + ["--db", "new.sqlite", "--storage-wait", "0"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "1"])
        #expect(r.status == 6 && r.stderr.contains("this command wrote nothing"), "\(r)")
        for name in ["new.sqlite", "new.sqlite-wal", "new.sqlite-shm", "new.sqlite-journal"] {
            #expect(!scratch.exists(name), "\(name) left behind: \(r)")
        }
    }

    @Test func demoOnALogThatFillsUpAndStaysFullExits6AfterTheStorageWait() async throws {
        let scratch = Scratch()
        let clock = ContinuousClock(), start = clock.now
        // Room for the schema and the 40 queued jobs, not for their images: full mid-run.
        let r = try await jobledger(["demo", "--db", "d.sqlite", "--jobs", "40", "--storage-wait", "2"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "90"])
        expectStoppedOnAFullLog(r, took: clock.now - start, db: "d.sqlite")
        #expect(r.stdout.contains("attempt 1 started"), "the demo ran before the log filled up: \(r)")
        let verify = try await jobledger(["verify", "--db", "d.sqlite"], in: scratch)
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func workUntilIdleOnAFullLogExits6AfterTheStorageWait() async throws {
        let scratch = Scratch()
        for i in 0..<6 {
            let r = try await jobledger(["submit", "design", "--db", "w.sqlite", "--input", #"{"prompt":"poster \#(i)","size":512}"#], in: scratch)
            #expect(r.status == 0, "\(r)")
        }
        let pages = try pageCount(scratch.path("w.sqlite"))
        let clock = ContinuousClock(), start = clock.now
        // A short lease, so that the jobs it leaves running are taken up again soon after.
        let r = try await jobledger(["work", "--until-idle", "--db", "w.sqlite", "--storage-wait", "2", "--lease", "1", "--fail-rate", "0"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "\(pages + 4)"])
        expectStoppedOnAFullLog(r, took: clock.now - start, db: "w.sqlite")
        #expect(r.stderr.contains("storage fault while"), "the engine said when it started: \(r)")
        let verify = try await jobledger(["verify", "--db", "w.sqlite"], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        // Space freed (no cap): the next worker finishes every job.
        let again = try await jobledger(["work", "--until-idle", "--db", "w.sqlite", "--fail-rate", "0"], in: scratch)
        #expect(again.status == 0, "\(again)")
        let jobs = try await jobledger(["jobs", "--db", "w.sqlite", "--json"], in: scratch)
        #expect(jobs.stdout.components(separatedBy: #""state":"completed""#).count - 1 == 6, "\(jobs)")
    }

    @Test func projectOnceOnAFullLogExits6AfterTheStorageWait() async throws {
        let scratch = Scratch()
        _ = try await logOfFinishedJobs(scratch.path("p.sqlite"), jobs: 30)
        let pages = try pageCount(scratch.path("p.sqlite"))
        let r = try await jobledger(["project", "--once", "--db", "p.sqlite", "--storage-wait", "1"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "\(pages + 4)"])
        #expect(r.status == 6, "\(r)")
        #expect(r.stderrLines.last?.hasPrefix("jobledger: storage fault lasted longer than --storage-wait 1 s, stopping: the log p.sqlite is full") == true, "\(r)")
        #expect(r.stderrLines.last?.contains("each projection resumes from its checkpoint") == true, "\(r)")
        // Room again: the same command finishes the job.
        let again = try await jobledger(["project", "--once", "--db", "p.sqlite"], in: scratch)
        #expect(again.status == 0, "\(again)")
        let status = try await jobledger(["projections", "--db", "p.sqlite", "--json"], in: scratch)
        #expect(status.stdout.contains(#""lag":0"#) && !status.stdout.contains(#""pending":1"#), "\(status)")
    }

    @Test func aOneShotWriteOnAFullLogWaitsThenExits6HavingWrittenNothing() async throws {
        let scratch = Scratch()
        let demo = try await jobledger(["demo", "--db", "a.sqlite", "--jobs", "8"], in: scratch)
        #expect(demo.status == 0, "\(demo)")
        let export = try await jobledger(["export", "--db", "a.sqlite"], in: scratch)
        try Data(export.stdout.utf8).write(to: URL(fileURLWithPath: scratch.path("a.ndjson")))
        try await logWithQueuedJob("b.sqlite", in: scratch)
        let before = try await snapshot("b.sqlite", in: scratch)
        let pages = try pageCount(scratch.path("b.sqlite"))
        let clock = ContinuousClock(), start = clock.now
        let r = try await jobledger(["import", "a.ndjson", "--db", "b.sqlite", "--storage-wait", "2"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "\(pages + 4)"])
        #expect(r.status == 6, "\(r)")
        #expect(clock.now - start < .seconds(Self.wait + 60))
        #expect(r.stderrLines.count == 2, "one line when it starts waiting, one when it stops: \(r)")
        #expect(r.stderrLines.first?.contains("retrying for up to 2 s (--storage-wait)") == true, "\(r)")
        #expect(r.stderrLines.last?.contains("Nothing recorded is lost: this command wrote nothing") == true, "\(r)")
        #expect(try await snapshot("b.sqlite", in: scratch) == before)
        // A bad cap or wait is a usage error, before anything is written.
        let bad = try await jobledger(["submit", "design", "--db", "b.sqlite"], in: scratch, environment: ["JOBLEDGER_MAX_PAGE_COUNT": "lots"])
        #expect(bad.status == 64, "\(bad)")
        for value in ["-1", "inf", "nan", "86401"] {
            let r = try await jobledger(["submit", "design", "--db", "b.sqlite", "--storage-wait=\(value)"], in: scratch)
            #expect(r.status == 64 && r.stderr.contains("--storage-wait must be 0…86400 seconds"), "\(r)")
        }
        #expect(try await snapshot("b.sqlite", in: scratch) == before)
    }

    /// `serve` cannot listen (nor answer its probes) before it has its log: a log it cannot
    /// write at startup stops it with exit 6 after the default 5 s, instead of waiting unseen.
    @Test func serveOnALogItCannotWriteAtStartupExits6InsteadOfNeverListening() async throws {
        let scratch = Scratch()
        let clock = ContinuousClock(), start = clock.now
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0"], in: scratch,
                                    deadline: .seconds(90), environment: ["JOBLEDGER_MAX_PAGE_COUNT": "2"])
        #expect(r.status == 6, "\(r)")
        #expect(clock.now - start < .seconds(65), "\(r)")
        #expect(!r.stderr.contains("serving http"), "\(r)")
        #expect(r.stderrLines.last?.hasPrefix("jobledger: storage fault lasted longer than --storage-wait 5 s, stopping: the log s.sqlite is full") == true, "\(r)")
    }
}
