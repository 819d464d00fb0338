import Foundation
import JobLedgerTestSupport
import Testing

/// Starts `jobledger args…` with stdout and stderr both on `pipe`, as `jobledger … 2>&1 | head`
/// runs it; `environment` is added to this process's own.
func startWithOutput(on pipe: Pipe, _ args: [String], in scratch: Scratch, environment: [String: String] = [:]) throws -> Process {
    let p = Process()
    p.executableURL = try #require(jobledgerBinary) as URL
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.currentDirectoryURL = scratch.url
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = pipe
    p.standardError = pipe
    try startChild(p)
    return p
}

/// Output that nobody reads any more (`jobledger … 2>&1 | head -1`) is dropped: the command
/// goes on to its normal end and exit status, instead of dying of SIGPIPE mid-run (jobs left
/// `running` until their leases pass) or trapping in `FileHandle.write` (SIGILL).
@Suite struct ClosedOutputTests {
    @Test func workUntilIdleWhoseReaderHasGoneFinishesEveryJob() async throws {
        let scratch = Scratch()
        for i in 0..<6 {
            let r = try await jobledger(["submit", "design", "--db", "w.sqlite", "--input", #"{"prompt":"poster \#(i)"}"#], in: scratch)
            #expect(r.status == 0, "\(r)")
        }
        let pipe = childPipe()
        try pipe.fileHandleForReading.close()  // the reader is gone before the first line
        let p = try startWithOutput(on: pipe, ["work", "--until-idle", "--db", "w.sqlite", "--fail-rate", "0", "--step-ms", "0"], in: scratch)
        await waitForExit(p, "work --until-idle with its output closed")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0,
                "ended by \(p.terminationReason == .exit ? "exit" : "signal") \(p.terminationStatus)")
        let jobs = try await jobledger(["jobs", "--db", "w.sqlite", "--json"], in: scratch)
        #expect(jobs.stdout.components(separatedBy: #""state":"completed""#).count - 1 == 6, "\(jobs)")
    }

    /// `serve … 2>&1 | head -1`: the reader goes after the first line; SIGTERM then stops the
    /// server as usual, and its last line ("stopped") is dropped.
    @Test func serveWhoseReaderHasGoneStopsNormallyOnSIGTERM() async throws {
        let scratch = Scratch()
        let pipe = childPipe()
        let p = try startWithOutput(on: pipe, ["serve", "--db", "s.sqlite", "--insecure-no-auth", "--port", "0"], in: scratch)
        let serving = await waitForLine(containing: "jobledger: serving http://", in: pipe.fileHandleForReading)
        #expect(serving != nil)
        try pipe.fileHandleForReading.close()
        kill(p.processIdentifier, SIGTERM)
        await waitForExit(p, "serve after SIGTERM with its output closed")
        #expect(p.terminationReason == .exit && p.terminationStatus == 0,
                "ended by \(p.terminationReason == .exit ? "exit" : "signal") \(p.terminationStatus)")
    }

    /// The command's data is not diagnostics: an export that cannot be written whole (a full
    /// disk) fails, exit 6, and says its output is incomplete, so a cut-short backup never looks
    /// like a finished one. A reader that has gone (`| head`) is still a quiet, normal end.
    @Test func anExportThatCannotBeWrittenFailsAndAReaderThatLeftDoesNot() async throws {
        let scratch = Scratch()
        for i in 0..<3 {
            _ = try await jobledger(["submit", "design", "--db", "e.sqlite", "--input", #"{"prompt":"poster \#(i)"}"#], in: scratch)
        }
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }  // Linux's always-full device
        let (status, said) = try await onFullDevice(["export", "--db", "e.sqlite"], in: scratch)
        #expect(status == 6)
        #expect(said?.contains("incomplete") == true, "\(said ?? "nothing said")")

        let pipe = childPipe()
        try pipe.fileHandleForReading.close()
        let q = try startWithOutput(on: pipe, ["export", "--db", "e.sqlite"], in: scratch)
        await waitForExit(q, "export whose reader has gone")
        #expect(q.terminationReason == .exit && q.terminationStatus == 0)
    }
}

/// What every other command prints goes through stdio: a write that failed there ends the
/// command with exit 6 and a line on stderr, not exit 0 with the output lost.
@Suite struct FailedOutputTests {
    @Test(arguments: [["digest"], ["jobs"], ["submit", "design"], ["verify"]])
    func aCommandWhoseOutputCannotBeWrittenExits6(_ command: [String]) async throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }  // Linux's always-full device
        let scratch = Scratch()
        _ = try await jobledger(["submit", "design", "--db", "o.sqlite"], in: scratch)
        let (status, said) = try await onFullDevice(command + ["--db", "o.sqlite"], in: scratch)
        #expect(status == 6, "\(command)")
        #expect(said?.contains("No space left on device") == true, "\(said ?? "nothing said")")
    }

    /// A command that fails for its own reason keeps its exit code, but says that its report
    /// was lost: `verify > report.txt` on a full disk exited 1 with an empty file and not a
    /// word on stderr, so nobody could tell which seq had failed, or that it had been printed.
    @Test func aFailingCommandWhoseReportCannotBeWrittenSaysSo() async throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }  // Linux's always-full device
        let scratch = Scratch()
        try await logWithCompletedJob("o.sqlite", in: scratch)
        _ = try await jobledger(["submit", "design", "--db", "other.sqlite"], in: scratch)
        try await expectSaid(["diff", "o.sqlite", "other.sqlite"], in: scratch)  // they differ: exit 1
        try rawSQL(scratch.path("o.sqlite"), "DROP TRIGGER events_no_update; UPDATE events SET payload = '{}' WHERE seq = 4")
        try await expectSaid(["verify", "--db", "o.sqlite"], in: scratch)
        try await expectSaid(["verify", "--json", "--db", "o.sqlite"], in: scratch)
    }

    func expectSaid(_ command: [String], in scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (status, stderr) = try await failingOnFullDevice(command, in: scratch)
        #expect(status == 1, "\(command): \(stderr)", sourceLocation: sourceLocation)
        #expect(stderr.contains("jobledger: could not write the output (No space left on device): what was printed is incomplete"),
                "\(command): \(stderr.debugDescription)", sourceLocation: sourceLocation)
    }

    @Test func aReaderThatLeftIsStillANormalEnd() async throws {
        let scratch = Scratch()
        _ = try await jobledger(["submit", "design", "--db", "o.sqlite"], in: scratch)
        let pipe = childPipe()
        try pipe.fileHandleForReading.close()
        let q = try startWithOutput(on: pipe, ["jobs", "--db", "o.sqlite"], in: scratch)
        await waitForExit(q, "jobs whose reader has gone")
        #expect(q.terminationReason == .exit && q.terminationStatus == 0)
    }
}

/// Runs `jobledger args…` with its stdout on `/dev/full` (Linux's always-full device): its exit
/// status, and the line it said on stderr about the output it could not write.
func onFullDevice(_ args: [String], in scratch: Scratch) async throws -> (status: Int32, said: String?) {
    let p = Process()
    p.executableURL = try #require(jobledgerBinary) as URL
    p.arguments = args
    p.currentDirectoryURL = scratch.url
    p.standardOutput = try #require(FileHandle(forWritingAtPath: "/dev/full"))
    let err = childPipe()
    p.standardError = err
    try startChild(p)
    let said = await waitForLine(containing: "could not write the output", in: err.fileHandleForReading)
    await waitForExit(p, "\(args.first ?? "jobledger") to a full device")
    return (p.terminationStatus, said)
}

/// Runs `jobledger args…` with its stdout on `/dev/full` and its stderr in a file, to its end:
/// its exit status and all it said on stderr (for a command that may say nothing there).
func failingOnFullDevice(_ args: [String], in scratch: Scratch) async throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = try #require(jobledgerBinary) as URL
    p.arguments = args
    p.currentDirectoryURL = scratch.url
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = try #require(FileHandle(forWritingAtPath: "/dev/full"))
    let errPath = scratch.path("stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let err = try #require(FileHandle(forWritingAtPath: errPath))
    p.standardError = err
    try startChild(p)
    await waitForExit(p, "\(args.first ?? "jobledger") to a full device")
    try err.close()
    return (p.terminationStatus, String(decoding: try fileBytes(errPath), as: UTF8.self))
}
