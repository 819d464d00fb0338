import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import JobLedgerProjections
import Testing

/// Starts `jobledger work ARGS…` in the background, its stderr on a pipe (it reports claims there).
func startWorker(_ args: [String]) throws -> (Process, Pipe) {
    let p = Process()
    p.executableURL = try #require(jobledgerBinary) as URL
    p.arguments = ["work"] + args
    let err = childPipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try startChild(p)
    return (p, err)
}

@Suite struct CrashRecoveryTests {
    /// A worker process claims a job and is killed with SIGKILL mid-attempt. Another worker
    /// process requeues it once the lease has expired and finishes it; no attempt runs twice
    /// and the log verifies.
    @Test func aKilledWorkersJobIsFinishedByAnotherProcess() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db, "--input", #"{"prompt":"crash test"}"#], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let job = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // Worker A: every pass takes a minute, so it is surely mid-attempt when killed.
        let (a, errPipe) = try startWorker(["--db", db, "--workers", "1", "--lease", "1", "--step-ms", "60000", "--fail-rate", "0"])
        let line = await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading)
        #expect(line != nil, "worker A never started the job")
        kill(a.processIdentifier, SIGKILL)
        await waitForExit(a, "worker A after SIGKILL")
        #expect(a.terminationReason == .uncaughtSignal)

        // Worker B: waits out A's lease, requeues the job as attempt 2 and finishes it.
        let b = try await jobledger(["work", "--db", db, "--workers", "2", "--lease", "1", "--until-idle", "--fail-rate", "0"], in: scratch)
        #expect(b.status == 0, "\(b)")
        // Said as what it was (it read "requeued or failed"), and counted in the summary (which
        // said "0 attempts retried" and nothing of the job taken over).
        #expect(b.stderr.contains("lease expired; requeued for attempt 2 of 3"), "\(b)")
        #expect(b.stderrLines.last { $0.hasPrefix("jobledger: idle after ") }?
            .hasSuffix("1 job completed, 0 failed, 0 canceled (0 attempts retried); 1 attempt of a worker that stopped taken over (lease expired)") == true, "\(b)")

        let ledger = try Ledger.open(path: db, create: false)
        let id = try JobID(job)
        var started: [Int] = []
        var workers: Set<String> = []
        var failure: EventPayload.Failed?
        try ledger.forEachEvent(of: id) { e in
            switch e.payload {
            case .started(let s): started.append(s.attempt); workers.insert(s.worker)
            case .failed(let f): failure = f
            default: break
            }
        }
        #expect(started == [1, 2])  // each attempt started exactly once
        #expect(workers.count == 2)  // by two different processes
        #expect(failure?.code == "lease_expired" && failure?.attempt == 1)
        #expect(try await ledger.state(of: id)?.status == .completed)
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
    }

    /// SIGTERM: the worker stops claiming, lets the running attempt finish within the drain
    /// time, then cancels it and records a retryable worker_shutdown failure. SIGHUP (a closed
    /// terminal, a `reload` wired to it) the same: it killed the worker at once, no drain, the
    /// job left running until its lease passed.
    @Test(arguments: [SIGTERM, SIGHUP])
    func sigtermDrainsThenRecordsTheInterruptedAttempt(signal: Int32) async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db], in: scratch)
        let job = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let (a, errPipe) = try startWorker(["--db", db, "--workers", "1", "--step-ms", "60000", "--drain", "0.2", "--fail-rate", "0"])
        let started = await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading)
        #expect(started != nil, "the worker never started the job")
        kill(a.processIdentifier, signal)
        await waitForExit(a, "the worker after signal \(signal) (drain 0.2 s)")
        #expect(a.terminationReason == .exit && a.terminationStatus == 0, "signal \(signal)")
        let s = try #require(try await Ledger.open(path: db, create: false).state(of: JobID(job)))
        #expect(s.status == .queued)  // back in the queue for another worker
        #expect(s.lastError?.code == "worker_shutdown")
    }

    /// SIGTERM while an attempt runs that finishes within the drain: the projections stop after
    /// the engine has drained and take in what it recorded, so the jobs table, the blobs and the
    /// broadcasts include the attempt's outcome, with nothing left behind.
    @Test func sigtermLetsTheProjectionsTakeInWhatTheDrainRecorded() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db], in: scratch)
        let job = try JobID(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let (a, errPipe) = try startWorker(["--db", db, "--workers", "1", "--step-ms", "250", "--drain", "60", "--fail-rate", "0"])
        let started = await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading)
        #expect(started != nil, "the worker never started the job")
        kill(a.processIdentifier, SIGTERM)
        await waitForExit(a, "the worker after SIGTERM (drain 60 s)")
        #expect(a.terminationStatus == 0)
        let ledger = try Ledger.open(path: db, create: false)
        #expect(try await ledger.state(of: job)?.status == .completed)
        for status in try ledger.projectionStatus() {
            #expect(status.checkpoint == status.head && status.pending == 0, "\(status.name): \(status)")
        }
        #expect(try ledger.storedJobRows().first { $0.id == job }?.state == .completed)  // the table itself, not folded on top
    }

    /// SIGINT during the demo: it stops as `work` does, prints its summary and says how many
    /// jobs were left unfinished and how to finish them, with exit 130, not a plain success.
    @Test func anInterruptedDemoSaysSoAndDoesNotExitZero() async throws {
        let scratch = Scratch()
        let db = scratch.path("demo.sqlite")
        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["demo", "--db", db, "--jobs", "200", "--step-ms", "100", "--fail-rate", "0"]
        let out = childPipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try startChild(p)
        let first = await waitForLine(containing: " completed", in: out.fileHandleForReading)
        #expect(first != nil, "the demo never completed a job")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted:", in: out.fileHandleForReading)
        await waitForExit(p, "the demo after SIGINT")
        #expect(p.terminationStatus == 130)
        #expect(said?.contains("of 200 jobs not finished") == true && said?.contains("--until-idle") == true, "\(said ?? "nothing")")
    }

    /// The first SIGTERM starts the graceful shutdown and says so; a second one during the
    /// drain stops the worker at once (exit 130) instead of waiting out the whole drain. The
    /// attempt it cut short is still the job's, to be taken up once its lease passes. The same
    /// with `--until-idle` (and `demo`, which runs the same way): its second signal was ignored
    /// until the whole drain had passed.
    @Test(arguments: [false, true])
    func aSecondSignalDuringTheDrainStopsAtOnce(untilIdle: Bool) async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        let submitted = try await jobledger(["submit", "design", "--db", db], in: scratch)
        let job = try JobID(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let (a, errPipe) = try startWorker(["--db", db] + (untilIdle ? ["--until-idle"] : [])
                                           + ["--workers", "1", "--step-ms", "60000", "--drain", "3600", "--fail-rate", "0"])
        #expect(await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading) != nil, "the worker never started the job")
        kill(a.processIdentifier, SIGTERM)
        let notice = await waitForLine(containing: "stopping:", in: errPipe.fileHandleForReading)
        #expect(notice?.contains("a second Ctrl-C (or SIGTERM) stops at once") == true, "\(notice ?? "no notice")")
        // A repeat within 0.1 s of the first counts as the same press (a wrapper passing the
        // terminal's Ctrl-C on); a quick double press, a quarter of a second apart, is a second
        // press: the worker goes at once, long before its drain of an hour. (The gap is what is
        // tested, not a wait for something to happen.)
        try await Task.sleep(for: .milliseconds(250))
        kill(a.processIdentifier, SIGTERM)
        await waitForExit(a, "the worker after a second SIGTERM (drain 3600 s)", within: .seconds(120))
        #expect(a.terminationStatus == 130)
        #expect(try await Ledger.open(path: db, create: false).state(of: job)?.status == .running)
    }

    /// SIGTERM stops `work --until-idle` before its queue is empty: it drains as `work` does,
    /// then says how many jobs are left and how to finish them, and exits 130 as `demo` does,
    /// not 0 (a script's `work --until-idle && next` went on with the backlog still queued).
    @Test func anInterruptedRunUntilIdleSaysSoAndDoesNotExitZero() async throws {
        let scratch = Scratch()
        let db = scratch.path("jobs.sqlite")
        for _ in 0..<3 { #expect(try await jobledger(["submit", "design", "--db", db], in: scratch).status == 0) }
        let (a, errPipe) = try startWorker(["--db", db, "--until-idle", "--workers", "1", "--step-ms", "60000", "--drain", "0.2", "--fail-rate", "0"])
        #expect(await waitForLine(containing: "attempt 1 started", in: errPipe.fileHandleForReading) != nil, "the worker never started a job")
        kill(a.processIdentifier, SIGTERM)
        let said = await waitForLine(containing: "interrupted:", in: errPipe.fileHandleForReading)
        await waitForExit(a, "work --until-idle after SIGTERM (drain 0.2 s)")
        #expect(a.terminationStatus == 130)
        #expect(said?.contains("3 design jobs not finished") == true && said?.contains("--until-idle") == true, "\(said ?? "nothing")")
    }
}
