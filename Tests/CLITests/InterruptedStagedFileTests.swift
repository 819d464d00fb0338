import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerTestSupport
import Testing

/// Files that take their name only once whole. `replay --into PATH` interrupted while it wrote
/// left a half-written PATH and its journal, unreadable, and the same command then refused:
/// "PATH already exists". An `export > file` cut short by a signal ends on a line boundary and
/// imports as a smaller valid log. Both now write under a staging name beside PATH (`export`
/// with `--output PATH`) and give it PATH when whole; a SIGINT removes it, says so, exit 130,
/// and the command runs again. `--json` is honoured by `--into` (it printed text).
@Suite(.timeLimit(.minutes(10)))
struct InterruptedStagedFileTests {
    let scratch = Scratch()

    /// A log of 60,000 events, big enough to be interrupted in the middle of reading or writing.
    func bigLog() async throws -> String {
        let db = scratch.path("big.sqlite")
        let input = scratch.path("all.ndjson")
        let lines = (0..<60_000).map { #"{"job_id":"job-\#($0)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try await jobledger(["import", input, "--db", db], in: scratch).status == 0)
        return db
    }

    /// Runs `jobledger args`, sends SIGINT once its staging file for `name` exists, and returns
    /// what it said and the staging path.
    func interrupted(_ args: [String], writing name: String) async throws -> (said: String?, staging: String) {
        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = args
        p.currentDirectoryURL = scratch.url
        let err = childPipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try startChild(p)
        let staging = scratch.path(".\(name).partial-\(p.processIdentifier)")
        var writing = false
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while p.isRunning && ContinuousClock.now < end {
            if FileManager.default.fileExists(atPath: staging) { writing = true; break }
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(writing, "\(args): not seen writing its file (it ended first?)")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "\(args) after SIGINT")
        #expect(p.terminationStatus == 130)
        #expect(!scratch.exists(name) && !FileManager.default.fileExists(atPath: staging)
                && !FileManager.default.fileExists(atPath: staging + "-journal"))
        return (said, staging)
    }

    /// Runs `jobledger args` with its stdout in a pipe: reads `after` bytes, sends SIGINT while
    /// most of the output is still to come (the pipe holds it back until read), then reads the
    /// rest to the end. Returns the exit status, what it said on stderr and all it wrote.
    func interruptedWhilePiped(_ args: [String], after: Int) async throws -> (status: Int32, said: String, data: Data) {
        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = args
        p.currentDirectoryURL = scratch.url
        let err = childPipe(), out = childPipe()
        p.standardError = err
        p.standardOutput = out
        try startChild(p)
        var data = Data()
        while data.count < after, let chunk = try out.fileHandleForReading.read(upToCount: 65_536), !chunk.isEmpty { data.append(chunk) }
        kill(p.processIdentifier, SIGINT)
        while let chunk = try out.fileHandleForReading.read(upToCount: 1 << 20), !chunk.isEmpty { data.append(chunk) }
        await waitForExit(p, "\(args) after SIGINT")
        return (p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), data)
    }

    @Test func anInterruptedReplayIntoLeavesNothingAndRunsAgain() async throws {
        let db = try await bigLog()
        let (said, _) = try await interrupted(["replay", "--db", db, "--into", "x.sqlite"], writing: "x.sqlite")
        #expect(said == "jobledger: interrupted: nothing was written to x.sqlite; run the command again", "\(said ?? "nothing said")")
        // The same command runs again, to the end.
        let again = try await jobledger(["replay", "--db", db, "--into", "x.sqlite", "--json"], in: scratch)
        #expect(again.status == 0, "\(again)")
        let summary = try JSONValue(parsing: again.stdout)
        #expect(summary["jobs"]?.intValue == 60_000 && summary["path"]?.stringValue == "x.sqlite", "\(again.stdout)")
        // A file that is there is refused before the replay, not after it.
        let refused = try await jobledger(["replay", "--db", db, "--into", "x.sqlite"], in: scratch)
        expectRefusal(refused, exit: 6, mentions: ["x.sqlite already exists"])
    }

    @Test func anInterruptedExportToAFileLeavesNothingThere() async throws {
        let db = try await bigLog()
        let (said, _) = try await interrupted(["export", "--db", db, "--output", "e.ndjson"], writing: "e.ndjson")
        #expect(said == "jobledger: interrupted: nothing was written to e.ndjson; run the command again", "\(said ?? "nothing said")")
        // The locked read's -wal and -shm went with the ledger (an exit from the signal's task left them).
        #expect(!FileManager.default.fileExists(atPath: db + "-wal") && !FileManager.default.fileExists(atPath: db + "-shm"))
        let whole = try await jobledger(["export", "--db", db, "--output", "e.ndjson"], in: scratch)
        #expect(whole.status == 0 && whole.stderr == "exported 60000 events to e.ndjson\n", "\(whole)")
        let stdout = try await jobledger(["export", "--db", db], in: scratch)
        #expect(try String(contentsOfFile: scratch.path("e.ndjson"), encoding: .utf8) == stdout.stdout, "the file is what stdout gets")
        expectRefusal(try await jobledger(["export", "--db", db, "--output", "e.ndjson"], in: scratch), exit: 6, mentions: ["e.ndjson already exists"])
    }

    /// An export to stdout stopped by SIGINT: its default action ended the process in the
    /// middle of a write (a line cut short, which `import` refuses whole), and left the locked
    /// read's -wal and -shm beside the log. Now the export stops on a line boundary, says how
    /// many events it holds, exit 130, the partial export imports, and nothing is left beside
    /// the log.
    @Test func anExportToStdoutStoppedBySIGINTEndsOnALineAndLeavesNothingBesideTheLog() async throws {
        let db = try await bigLog()
        let (status, said, data) = try await interruptedWhilePiped(["export", "--db", db], after: 200_000)
        #expect(status == 130, "\(said)")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(data.last == UInt8(ascii: "\n") && lines.count > 1 && lines.count - 1 < 60_000, "\(lines.count - 1) lines")
        #expect(said.contains("jobledger: interrupted (SIGINT): the export holds the first \(lines.count - 1) events, each a whole line"), "\(said)")
        try data.write(to: URL(fileURLWithPath: scratch.path("part.ndjson")))
        let imported = try await jobledger(["import", "part.ndjson", "--db", "part.sqlite"], in: scratch)
        #expect(imported.status == 0, "\(imported)")
        #expect(!FileManager.default.fileExists(atPath: db + "-wal") && !FileManager.default.fileExists(atPath: db + "-shm"))
    }

    /// `replay --effects` stopped by SIGINT: it stops before its next event (it kept folding the
    /// rest of the log unprinted), its output ends on a line boundary, exit 130, and nothing is
    /// left beside the log.
    @Test func aReplayOfEffectsStoppedBySIGINTEndsOnALineAndStopsReading() async throws {
        let db = try await bigLog()
        let (status, said, data) = try await interruptedWhilePiped(["replay", "--effects", "--db", db], after: 100_000)
        #expect(status == 130, "\(said)")
        #expect(said.contains("jobledger: interrupted (SIGINT): the effects printed stop at seq "), "\(said)")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(data.last == UInt8(ascii: "\n") && lines.count - 1 < 60_000, "\(lines.count - 1) lines")
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("seq ") })
        #expect(!FileManager.default.fileExists(atPath: db + "-wal") && !FileManager.default.fileExists(atPath: db + "-shm"))
    }
}
