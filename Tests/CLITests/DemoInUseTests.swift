import Foundation
import JobLedger
import JobLedgerSQLite
import Testing

/// `demo` replaces its default log on every run: it deleted it under a process that had it open
/// (a `serve` on it answered 503 "vanished" for good; two demos at once ended each other's run).
/// It refuses now, with exit 5, while another process has the log open.
@Suite(.timeLimit(.minutes(5)))
struct DemoInUseTests {
    let scratch = Scratch()

    @Test func demoDoesNotReplaceALogAnotherProcessHasOpen() async throws {
        let path = scratch.path("jobledger-demo.sqlite")
        var ledger: Ledger? = try Ledger.open(path: path)
        let stored = try await ledger!.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design"))))
        let r = try await jobledger(["demo", "--jobs", "1", "--no-effects"], in: scratch)
        expectRefusal(r, exit: 5, mentions: ["jobledger-demo.sqlite is in use by another process (pid \(getpid()))", "give --db a new path"])
        #expect(try ledger!.head()?.seq == stored.seq, "the log open here is still there, with its event")
        #expect(FileManager.default.fileExists(atPath: path))

        // Closed, it is replaced as before.
        ledger = nil
        let again = try await jobledger(["demo", "--jobs", "1", "--no-effects", "--fail-rate", "0"], in: scratch)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("done: 1 completed"), "\(again)")
    }
}
