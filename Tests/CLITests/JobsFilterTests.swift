import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Testing

/// `jobs --state S` reads the stored rows in that state, not the whole `jobs` table: what an
/// operator runs in an incident (`--state running` on a log of millions of finished jobs) costs
/// the rows shown. (It read every row and filtered them in memory: 200,000 stored jobs, none
/// running, took it to 327 MB.)
@Suite struct JobsFilterTests {
    /// A log with `running` running jobs and `queued` queued ones, its jobs table caught up.
    func log(_ scratch: Scratch, _ name: String, running: Int, queued: Int) async throws -> String {
        let db = scratch.path(name)
        let ledger = try Ledger.open(path: db)
        let lease = Timestamp.now.adding(milliseconds: 3_600_000)
        var events: [NewEvent] = []
        for _ in 0..<running {
            let job = JobID.generate()
            events.append(NewEvent(job: job, payload: .queued(.init(kind: "design"))))
            events.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease))))
        }
        for _ in 0..<queued { events.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design")))) }
        _ = try await ledger.append(events)
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        return db
    }

    /// The peak resident memory (KiB) of `jobs --state running` on `db`, read once it has its rows
    /// and is printing them: its output (over a pipe's 64 KiB) holds it there until it is read.
    func peakOfRunningJobs(_ db: String, scratch: Scratch) async throws -> (kib: Int, lines: Int) {
        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["jobs", "--state", "running", "--db", db]
        let out = childPipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try startChild(p)
        let fd = out.fileHandleForReading.fileDescriptor
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&ready, 1, 1000) == 0 { #expect(p.isRunning, "jobs exited before printing") }
        let status = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? ""
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        await waitForExit(p, "jobs --state running")
        #expect(p.terminationStatus == 0)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }, "no VmHWM in /proc/<pid>/status")
        return (try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])), text.split(separator: "\n").count)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads the peak memory from /proc"))
    func aStateFilterReadsOnlyThatStatesRows() async throws {
        let scratch = Scratch()
        let few = try await log(scratch, "few.sqlite", running: 1000, queued: 0)
        let many = try await log(scratch, "many.sqlite", running: 1000, queued: 30_000)
        let beside = try await peakOfRunningJobs(few, scratch: scratch)
        let amid = try await peakOfRunningJobs(many, scratch: scratch)
        #expect(beside.lines == 1001 && amid.lines == 1001, "a header and the 1,000 running jobs: \(beside.lines), \(amid.lines)")
        // 30,000 rows read and dropped cost about 40,000 KiB; the same 1,000 rows, nothing like it.
        #expect(amid.kib - beside.kib < 15_000, "peak \(amid.kib) KiB amid 30,000 queued jobs, \(beside.kib) KiB without them")
    }
}
