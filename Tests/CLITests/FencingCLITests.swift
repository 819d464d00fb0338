import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Synchronization
import Testing

/// Collects a child's stderr on a plain thread, so a test can wait (with a deadline) for a line.
final class StderrLines: Sendable {
    private let text = Mutex("")
    private let closed = Mutex(false)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { closed.withLock { $0 = true }; return }
                text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
        }
    }

    var all: String { text.withLock { $0 } }

    /// The first line containing `needle`, waiting up to `timeout`; records an issue (with
    /// everything read so far) and returns nil when it does not come.
    func line(containing needle: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation) async -> String? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let l = all.split(separator: "\n").first(where: { $0.contains(needle) }) { return String(l) }
            if closed.withLock({ $0 }) { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let l = all.split(separator: "\n").first(where: { $0.contains(needle) }) { return String(l) }
        Issue.record("no line containing '\(needle)' within \(timeout); stderr so far:\n\(all)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite struct FencingCLITests {
    /// Worker A is stopped with SIGSTOP mid-attempt, past its lease; worker B requeues the job
    /// and finishes it. Resumed with SIGCONT, A's next report is refused: it logs that its
    /// attempt lost its claim, cancels its handler, and nothing of attempt 1 lands after B's claim.
    @Test func aWorkerPausedPastItsLeaseWritesNothingWhenResumed() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"paused"}"#], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let job = try JobID(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))

        let a = Process()
        a.executableURL = try #require(jobledgerBinary) as URL
        // Passes of 3 s: A cannot finish before it is stopped, however loaded the machine.
        a.arguments = ["work", "--db", db, "--workers", "1", "--lease", "2", "--step-ms", "3000", "--fail-rate", "0"]
        let errPipe = childPipe()
        a.standardError = errPipe
        a.standardOutput = FileHandle.nullDevice
        try startChild(a)
        defer { if a.isRunning { kill(a.processIdentifier, SIGKILL) } }
        let stderr = StderrLines(errPipe.fileHandleForReading)
        #expect(await stderr.line(containing: "attempt 1 started") != nil)
        kill(a.processIdentifier, SIGSTOP)

        // B waits out A's lease (it polls), requeues the job as attempt 2 and finishes it.
        let b = try await jobledger(["work", "--db", db, "--workers", "1", "--lease", "2", "--step-ms", "0", "--until-idle", "--fail-rate", "0"], in: scratch)
        #expect(b.status == 0, "\(b)")
        kill(a.processIdentifier, SIGCONT)
        let lost = await stderr.line(containing: "lost its claim")
        #expect(lost?.contains("attempt 1") == true, "\(String(describing: lost))")
        kill(a.processIdentifier, SIGTERM)
        await waitForExit(a, "worker A after SIGTERM")

        let ledger = try Ledger.open(path: db, create: false)
        var events: [StoredEvent] = []
        try ledger.forEachEvent(of: job) { events.append($0) }
        let bClaim = try #require(events.firstIndex { if case .started(let s) = $0.payload { return s.attempt == 2 } else { return false } })
        #expect(events[bClaim...].allSatisfy { $0.payload.claim != 1 }, "\(events.map(\.type))")
        #expect(events.filter { $0.type == .completed }.map(\.payload.claim) == [2])
        #expect(try await ledger.state(of: job)?.status == .completed)
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func appendNamesTheClaimWithAttemptAndAStaleOneIsRefused() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let job = try await logWithQueuedJob(db, in: scratch)
        try await append(db, type: "started", job: job, payload: startedPayload(attempt: 1), in: scratch)
        try await append(db, type: "progress", job: job, payload: #"{"fraction":0.2}"#, extra: ["--attempt", "1"], in: scratch)
        try await append(db, type: "failed", job: job, payload: #"{"code":"lease_expired","retryable":true,"attempt":1}"#, in: scratch)
        try await append(db, type: "started", job: job, payload: startedPayload(attempt: 2), in: scratch)
        let before = try await snapshot(db, in: scratch)

        let stale = try await jobledger(["append", "--db", db, "--job", job, "--type", "completed", "--payload", "{}", "--attempt", "1"], in: scratch)
        expectRefusal(stale, exit: 3, mentions: ["job \(job)", "attempt 1 no longer holds the job, attempt 2 does"])
        let missing = try await jobledger(["append", "--db", db, "--job", job, "--type", "progress", "--payload", #"{"fraction":0.3}"#], in: scratch)
        expectRefusal(missing, exit: 2, mentions: ["missing field 'attempt'"])
        let contradicts = try await jobledger(["append", "--db", db, "--job", job, "--type", "progress", "--payload", #"{"fraction":0.3,"attempt":2}"#,
                                               "--attempt", "1"], in: scratch)
        expectRefusal(contradicts, exit: 2, mentions: ["--attempt 1 contradicts"])
        let wrongType = try await jobledger(["append", "--db", db, "--job", job, "--type", "canceled", "--payload", "{}", "--attempt", "2"], in: scratch)
        #expect(wrongType.status == 64, "\(wrongType)")
        #expect(try await snapshot(db, in: scratch) == before)

        try await append(db, type: "completed", job: job, payload: "{}", extra: ["--attempt", "2"], in: scratch)
    }
}
