import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Testing

/// A worker that joins a log holds what its engine holds (the jobs in flight, read lean), not the
/// log's past nor its backlog: the lines `work` prints come from a display that used to fold the
/// whole log when it started and keep every job it had seen, inputs included (`work` on a backlog
/// of 200,000 queued jobs peaked about 300 MB above its engine, and took seconds longer to claim).
@Suite struct JoiningWorkerTests {
    /// A log with one `design` job and `others` queued jobs of a kind `work` does not run, each
    /// with an input of `inputBytes`, its jobs table caught up (so `work` has nothing to take in).
    func backlog(_ scratch: Scratch, _ name: String, others: Int, inputBytes: Int) async throws -> String {
        let db = scratch.path(name)
        var configuration = LedgerConfiguration()
        configuration.maxPayloadBytes = 16 * 1024 * 1024
        let ledger = try Ledger.open(path: db, configuration: configuration)
        for _ in 0..<others {
            let input: JSONValue = ["blob": .string(String(repeating: "x", count: inputBytes))]
            _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "other", input: input)), expectedVersion: 0))
        }
        _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design", input: ["prompt": "p"])), expectedVersion: 0))
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", db, "--max-payload-bytes", "16777216"], in: scratch)
        #expect(project.status == 0, "\(project)")
        return db
    }

    /// The peak resident memory (KiB) of `work` on `db`, read while its one attempt runs.
    func peakWhileWorking(_ db: String) async throws -> Int {
        let (worker, errPipe) = try startWorker(["--db", db, "--no-effects", "--workers", "1", "--step-ms", "60000", "--drain", "0", "--fail-rate", "0"])
        // Printed by the display once it has taken the claim in: after it started.
        let started = await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading)
        #expect(started != nil, "the worker never started the design job")
        let status = (try? String(contentsOfFile: "/proc/\(worker.processIdentifier)/status", encoding: .utf8)) ?? ""
        kill(worker.processIdentifier, SIGTERM)
        await waitForExit(worker, "the worker after SIGTERM")
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }, "no VmHWM in /proc/<pid>/status")
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    /// Four queued jobs of another kind with 12 MB inputs (48 MB in all) cost `work` no more
    /// than four with tiny ones: the old display held every one of them in full.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads the peak memory from /proc"))
    func aWorkerDoesNotHoldTheBacklogsInputs() async throws {
        let scratch = Scratch()
        let small = try await backlog(scratch, "small.sqlite", others: 4, inputBytes: 10)
        let big = try await backlog(scratch, "big.sqlite", others: 4, inputBytes: 12_000_000)
        let withSmall = try await peakWhileWorking(small)
        let withBig = try await peakWhileWorking(big)
        // 48 MB of inputs held would show as about 48,000 KiB more; a page cache's worth is not that.
        #expect(withBig - withSmall < 24_000, "peak \(withBig) KiB beside big inputs, \(withSmall) KiB beside small ones")
    }
}
