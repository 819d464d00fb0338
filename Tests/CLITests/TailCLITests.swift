import Foundation
import JobLedger
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// `tail` only reads: it opens the log read-only, as the other readers do (it opened it for
/// writing, which changed the file's change counter and failed on a log the user may only
/// read), and still follows what a writer appends later.
@Suite(.timeLimit(.minutes(5)))
struct TailCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    @Test func tailLeavesTheFileAsItWas() async throws {
        let jobs = try await logOfFinishedJobs(db, jobs: 1)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        let before = try fileBytes(db)
        let all = try await jobledger(["tail", "--no-follow", "--db", db], in: scratch)
        #expect(all.status == 0 && all.stdout.contains("job:\(jobs[0])"), "\(all)")
        let one = try await jobledger(["tail", "--no-follow", "--job", "\(jobs[0])", "--db", db], in: scratch)
        #expect(one.status == 0 && one.stdout.split(separator: "\n").count == 6, "\(one)")
        #expect(try fileBytes(db) == before, "tail changed the file's bytes")
        for suffix in ["-wal", "-shm"] { #expect(!FileManager.default.fileExists(atPath: db + suffix), "tail left \(suffix)") }
    }

    /// Started while no writer had the log open (read without locks), it sees what a writer
    /// that starts later sends.
    @Test func tailFollowsAWriterThatStartsLater() async throws {
        _ = try await logOfFinishedJobs(db, jobs: 1)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        #expect(!FileManager.default.fileExists(atPath: db + "-wal"))
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["tail", "--after", "0", "--poll-ms", "20", "--db", db], in: scratch)
        defer { kill(p.processIdentifier, SIGKILL) }
        #expect(await waitForLine(containing: #""stream""#, in: pipe.fileHandleForReading) != nil, "tail printed what was sent")
        let later = try await logOfFinishedJobs(db, jobs: 1)
        #expect(try await jobledger(["project", "--once", "--db", db], in: scratch).status == 0)
        #expect(await waitForLine(containing: "job:\(later[0])", in: pipe.fileHandleForReading) != nil, "tail saw the later job's messages")
        kill(p.processIdentifier, SIGTERM)
        await waitForExit(p, "tail after SIGTERM")
    }

    /// As `history` and `state`: a job the log does not have is refused (exit 3), not followed
    /// (or listed) in silence.
    @Test(arguments: [["--no-follow"], []])
    func tailOfAnUnknownJobIsRefused(mode: [String]) async throws {
        _ = try await logOfFinishedJobs(db, jobs: 1)
        let r = try await jobledger(["tail", "--job", "nope", "--db", db] + mode, in: scratch)
        expectRefusal(r, exit: 3, mentions: ["no such job nope in \(db)"])
    }

    /// A seq past the log's head (a log restored from a backup, another log's seq) waited
    /// silently for ever, skipping every new message as already seen: refused (exit 64, naming
    /// the head), as the SSE routes refuse such a `Last-Event-ID`. The head itself is fine.
    @Test(arguments: [["--no-follow"], []])
    func tailAfterASeqPastTheHeadIsRefused(mode: [String]) async throws {
        _ = try await logOfFinishedJobs(db, jobs: 1)
        let head = try #require(try Ledger.openReadOnly(path: db).head()?.seq)
        let r = try await jobledger(["tail", "--after", "\(head + 1000)", "--db", db] + mode, in: scratch)
        expectRefusal(r, exit: 64, mentions: ["--after \(head + 1000) is past the log's head (seq \(head)) of \(db)", "give 0…\(head)"])
        if !mode.isEmpty {
            let atHead = try await jobledger(["tail", "--after", "\(head)", "--db", db] + mode, in: scratch)
            #expect(atHead.status == 0 && atHead.stdout.isEmpty, "\(atHead)")
        }
    }
}
