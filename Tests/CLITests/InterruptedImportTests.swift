import Foundation
import JobLedgerTestSupport
import Testing

/// An import into a new path creates the log only once its input has passed every check, and a
/// refused import leaves no new file behind (README § Commands). Ctrl-C while it wrote left an
/// empty new log (or a 0-byte file and its -journal), without a word.
@Suite(.timeLimit(.minutes(5)))
struct InterruptedImportTests {
    let scratch = Scratch()

    /// An import of 2,000 events into `log` (by default new.sqlite, a new path), held,
    /// deterministically, by a log capped below what the input needs
    /// (`JOBLEDGER_MAX_PAGE_COUNT`, as a full disk): `pagesOfRoom` pages past a log of one
    /// submit (at `log` when `existing`, else beside it). Returned once it says it waits out
    /// the fault, with its stderr.
    func importHeldInAFullLog(_ log: String = "new.sqlite", existing: Bool = false, pagesOfRoom: Int = 0) async throws -> (Process, Pipe) {
        let input = scratch.path("all.ndjson")
        let lines = (0..<2000).map { #"{"job_id":"imported-\#($0)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        // Room for a log's schema and one job, and `pagesOfRoom` more: not for the events.
        let probe = existing ? log : "probe.sqlite"
        let submitted = try await jobledger(["submit", "design", "--db", probe], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let pages = try pageCount(scratch.path(probe)) + pagesOfRoom

        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["import", input, "--db", scratch.path(log), "--storage-wait", "600"]
        p.currentDirectoryURL = scratch.url
        var environment = ProcessInfo.processInfo.environment
        environment["JOBLEDGER_MAX_PAGE_COUNT"] = "\(pages)"
        p.environment = environment
        let err = childPipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try startChild(p)
        let waiting = await waitForLine(containing: "retrying for up to", in: err.fileHandleForReading)
        #expect(waiting != nil, "the import never reached the full log")
        return (p, err)
    }

    /// SIGINT while the import is held mid-write: it rolls back, removes the log it made, says
    /// so, and exits 130.
    @Test func anImportInterruptedWhileItWritesRemovesTheNewLog() async throws {
        let (p, err) = try await importHeldInAFullLog()
        // The new log is made under a staging name: nothing is at the path until it is whole.
        let staging = ".new.sqlite.partial-\(p.processIdentifier)"
        #expect(scratch.exists(staging) && !scratch.exists("new.sqlite"), "the import had begun its log under its staging name")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "the import after SIGINT")
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        #expect(said == "jobledger: interrupted: nothing was imported, and no log was created at \(scratch.path("new.sqlite"))",
                "\(said ?? "nothing said")")
        for name in ["new.sqlite", "new.sqlite-wal", "new.sqlite-shm", "new.sqlite-journal"] + ["", "-wal", "-shm", "-journal"].map({ staging + $0 }) {
            #expect(!scratch.exists(name), "\(name) left behind")
        }
    }

    /// SIGTERM while an import into an existing log is held by a full log: while it opens the
    /// log (its write probe finds no room) or mid-write (room for the probe, not the events),
    /// it stops, rolling back what it began, and says so, exit 130, the log as it was. (The
    /// default action ended it without a word, exit 143.)
    @Test(arguments: [0, 1]) func anImportIntoAnExistingLogInterruptedSaysNothingWasImported(pagesOfRoom: Int) async throws {
        let (p, err) = try await importHeldInAFullLog("log.sqlite", existing: true, pagesOfRoom: pagesOfRoom)
        kill(p.processIdentifier, SIGTERM)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "the import after SIGTERM")
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        let log = scratch.path("log.sqlite")
        #expect(said == (pagesOfRoom == 0 ? "jobledger: interrupted before the import wrote anything: nothing was imported into \(log)"
                                          : "jobledger: interrupted: nothing was imported into \(log) (its transaction was rolled back: the log is as it was)"),
                "\(said ?? "nothing said")")
        let verified = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verified.status == 0 && verified.stdout.contains("ok: 1 event,"), "\(verified)")
    }

    /// Killed outright (SIGKILL) while it writes, an import into a new path left an empty log
    /// there, which `verify` passed (0 events). Nothing is at the path now; the next import
    /// removes what the killed one left under its staging name, and makes the log.
    @Test func anImportKilledWhileItWritesLeavesNoLogAtThePath() async throws {
        let (p, _) = try await importHeldInAFullLog()
        kill(p.processIdentifier, SIGKILL)
        await waitForExit(p, "the import after SIGKILL")
        #expect(!scratch.exists("new.sqlite"), "a killed import left a log at the path")
        #expect(scratch.exists(".new.sqlite.partial-\(p.processIdentifier)"))
        let again = try await jobledger(["import", scratch.path("all.ndjson"), "--db", "new.sqlite"], in: scratch)
        #expect(again.status == 0 && again.stdout.contains("imported 2000 events"), "\(again)")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path(".")).filter { $0.contains("partial") }
        #expect(left.isEmpty, "\(left)")
        let verified = try await jobledger(["verify", "--db", "new.sqlite"], in: scratch)
        #expect(verified.status == 0 && verified.stdout.contains("2000 events"), "\(verified)")
    }

    /// A new log whose import is refused in its second pass (only the log can tell: here the
    /// payload limit) is not left behind either.
    @Test func anImportRefusedWhileItWritesLeavesNoNewLog() async throws {
        let input = scratch.path("big.ndjson")
        let line = #"{"job_id":"big-1","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design","input":{"text":"\#(String(repeating: "x", count: 2000))"}}}"#
        try (line + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let r = try await jobledger(["import", input, "--db", "new.sqlite", "--max-payload-bytes", "100"], in: scratch)
        #expect(r.status == 2, "\(r)")
        for name in ["new.sqlite", "new.sqlite-wal", "new.sqlite-shm", "new.sqlite-journal"] {
            #expect(!scratch.exists(name), "\(name) left behind: \(r)")
        }
    }
}
