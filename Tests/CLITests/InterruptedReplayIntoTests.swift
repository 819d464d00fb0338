import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerTestSupport
import Testing

/// `replay --into PATH` interrupted while it wrote left a half-written PATH and its journal,
/// unreadable, and the same command then refused: "PATH already exists". The file is now made
/// under a staging name and given PATH only when whole; a SIGINT removes it, says so, exit 130,
/// and the command runs again. `--json` is honoured by `--into` (it printed text).
@Suite(.timeLimit(.minutes(10)))
struct InterruptedReplayIntoTests {
    let scratch = Scratch()

    @Test func anInterruptedReplayIntoLeavesNothingAndRunsAgain() async throws {
        let db = scratch.path("big.sqlite")
        let input = scratch.path("all.ndjson")
        let lines = (0..<60_000).map { #"{"job_id":"job-\#($0)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try await jobledger(["import", input, "--db", db], in: scratch).status == 0)

        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["replay", "--db", db, "--into", "x.sqlite"]
        p.currentDirectoryURL = scratch.url
        let err = childPipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try startChild(p)
        // Interrupted while it writes the file: under its staging name, beside x.sqlite.
        let staging = scratch.path(".x.sqlite.partial-\(p.processIdentifier)")
        var writing = false
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while p.isRunning && ContinuousClock.now < end {
            if FileManager.default.fileExists(atPath: staging) { writing = true; break }
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(writing, "the replay was not seen writing its file (it ended first?)")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "replay --into after SIGINT")
        #expect(p.terminationStatus == 130)
        #expect(said == "jobledger: interrupted: nothing was written to x.sqlite; run the command again", "\(said ?? "nothing said")")
        #expect(!scratch.exists("x.sqlite") && !FileManager.default.fileExists(atPath: staging)
                && !FileManager.default.fileExists(atPath: staging + "-journal"))
        // The same command runs again, to the end.
        let again = try await jobledger(["replay", "--db", db, "--into", "x.sqlite", "--json"], in: scratch)
        #expect(again.status == 0, "\(again)")
        let summary = try JSONValue(parsing: again.stdout)
        #expect(summary["jobs"]?.intValue == 60_000 && summary["path"]?.stringValue == "x.sqlite", "\(again.stdout)")
        // A file that is there is refused before the replay, not after it.
        let refused = try await jobledger(["replay", "--db", db, "--into", "x.sqlite"], in: scratch)
        expectRefusal(refused, exit: 6, mentions: ["x.sqlite already exists"])
    }
}
