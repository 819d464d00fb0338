import Foundation
import GRDB
import JobLedgerTestSupport
import Testing

/// A signal before a long-running command's service group traps it: `work` and `serve` (and
/// `project`) waiting for another writer's lock at start (which they wait out for as long as it
/// lasts, "stop with Ctrl-C"), `demo` queueing its jobs. The default action ended the process
/// without a word, exit 143, against Operations.md § Signals; now it says so, exit 130.
@Suite(.timeLimit(.minutes(5))) struct InterruptedStartTests {
    let scratch = Scratch()

    @Test(arguments: [["work"], ["serve", "--port", "0", "--insecure-no-auth", "--workers", "0"]])
    func aSignalWhileWaitingForTheLockAtStartSaysSoAndExits130(_ command: [String]) async throws {
        let db = try await logWithQueuedJob("log.sqlite", in: scratch)
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true  // the lock stays held between the two calls
        let holder = try DatabaseQueue(path: scratch.path(db), configuration: holding)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") }
        defer { try? holder.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") } }
        let p = try cliProcess(#require(jobledgerBinary), command + ["--db", db], in: scratch)
        let err = childPipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try startChild(p)
        let waiting = await waitForLine(containing: "is locked by another writer", in: err.fileHandleForReading)
        #expect(waiting?.contains("stop with Ctrl-C") == true, "\(waiting ?? "nothing said")")
        kill(p.processIdentifier, SIGTERM)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "\(command) after SIGTERM")
        #expect(p.terminationStatus == 130 && p.terminationReason == .exit, "\(p.terminationReason) \(p.terminationStatus)")
        #expect(said?.hasPrefix("jobledger: interrupted (SIGTERM) before the ") == true, "\(said ?? "nothing said")")
    }
}
