import ArgumentParser
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerUpstash
import UnixSignals
import Logging
import ServiceLifecycle
import Synchronization

/// Options of a worker process (shared by `work` and `demo`).
struct WorkerOptions: ParsableArguments {
    @Option(help: "Attempts run at once, \(OptionRanges.workers.bounds).") var workers: Int = 4
    @Option(help: "Seconds a claim holds without a heartbeat, \(OptionRanges.lease.bounds).") var lease: Double = 30
    @Option(help: "Seconds running handlers get to finish on SIGINT/SIGTERM before they are cancelled, \(OptionRanges.drain.bounds).") var drain: Double = 10
    @Option(help: "Chance that a demo attempt fails (retryable), \(OptionRanges.failRate.bounds).") var failRate: Double = 0.2
    @Option(help: "Milliseconds each of the demo handler's four passes takes, \(OptionRanges.stepMs.bounds).") var stepMs: Int = 0
    @Option(help: "Progress reports of one attempt closer together than this are merged into the next durable progress event, \(OptionRanges.progressIntervalMs.bounds) (0: every report is written, so a demo run can be repeated event for event; the engine's own default is 250).") var progressIntervalMs: Int = 0

    func validate() throws {
        try OptionRanges.workers.check(workers)
        try OptionRanges.lease.check(lease)
        try OptionRanges.drain.check(drain)
        try OptionRanges.failRate.check(failRate)
        try OptionRanges.stepMs.check(stepMs)
        try OptionRanges.progressIntervalMs.check(progressIntervalMs)
        try OptionRanges.checkProgressInterval(progressIntervalMs, lease: lease)
    }

    /// An engine with these options; they have passed `validate()`, so the conversions are exact.
    /// `storageWait`: how long a storage fault may last before the run stops (nil: until it clears).
    func engine(ledger: Ledger, storageWait: Duration?) -> JobEngine {
        var o = JobEngine.Options()
        o.storageFaults.giveUpAfter = storageWait
        o.concurrency = workers
        o.leaseMilliseconds = Int64((lease * 1000).rounded())
        o.drainTimeout = .milliseconds(Int64((drain * 1000).rounded()))
        o.progressIntervalMilliseconds = Int64(progressIntervalMs)
        o.logger = cliLogger("jobledger.engine")
        let engine = JobEngine(ledger: ledger, options: o)
        engine.register(kind: DesignHandler.kind, retry: RetryPolicy(baseMilliseconds: 50, capMilliseconds: 2_000),
                        DesignHandler.make(failRate: failRate, stepMilliseconds: stepMs))
        return engine
    }
}

/// Whether the last `runWithSignals` was stopped before its worker ended by itself (a SIGINT
/// or SIGTERM): what `demo` reports as interrupted.
let stoppedEarly = Atomic<Bool>(false)

/// Runs the engine and the projections in a swift-service-lifecycle `ServiceGroup` that turns
/// SIGINT/SIGTERM into a graceful shutdown (stop claiming, drain, cancel and record the rest).
/// With `untilIdle` the engine stops by itself once no job is queued, delayed or running, and
/// the projections then deliver what is left, waiting out backoffs for up to `drain`. Returns
/// the effect projections that still owe something (pending or dead items).
@discardableResult
func runWithSignals(engine: JobEngine, runner: ProjectionRunner?, untilIdle: Bool, intake: (any JobIntake)? = nil,
                    startNote: String? = nil) async throws -> [ProjectionStatus] {
    // What a graceful shutdown waits for, as said when it begins.
    // Once the group and its drain are over, a signal stops the process at once again.
    defer { CommandInterrupt.takeBack("after the work: what was recorded stays in \(engine.ledger.path)") }
    let waitsFor = "no new claims; draining running attempts for up to \(durationText(engine.options.drainTimeout))"
        + (runner.map { ", then the projections catch up (up to \(durationText($0.options.shutdownCatchUp)))" } ?? "")
    struct Worker: Service {
        let engine: JobEngine
        let runner: ProjectionRunner?
        let untilIdle: Bool
        let intake: (any JobIntake)?
        let waitsFor: String
        let startNote: String?
        func run() async throws {
            CommandInterrupt.handOver()
            // Said once the group traps SIGINT and SIGTERM: what reads it may stop the run at once.
            if let startNote { printErr(startNote) }
            try await withGracefulShutdownHandler {
                if let intake {
                    do {
                        if untilIdle { try await engine.workUntilIdle(feedingFrom: intake) } else { try await engine.work(feedingFrom: intake) }
                    } catch let e as JobIntakeStopped {
                        throw fail("intake stopped: \(e.message)", code: 2)
                    } catch let e as IntakeUnavailable {
                        throw fail("Upstash intake: \(e); the jobs taken in so far are in the log, the rest wait in the stream: "
                                   + "run this command again once Upstash answers", code: 6)
                    }
                } else if untilIdle { try await engine.workUntilIdle() } else { try await engine.work() }
            } onGracefulShutdown: {
                // Reached only while the worker still runs: a signal (or another service's end),
                // not the idle end of --until-idle.
                stoppedEarly.store(true, ordering: .relaxed)
                // Without --until-idle, ShutdownNotice says it; with it, the same is said here, and a
                // second signal stops at once here too (it was ignored for the whole drain).
                if untilIdle { Task { await ShutdownNotice.announce(waitsFor: waitsFor) { engine.runningAttempts } } }
                Task { await engine.shutdown(drain: engine.options.drainTimeout) }
            }
        }
    }
    let logger = cliLogger("jobledger.service")
    // Stopped in reverse order: the projections last, after the worker has drained, so that
    // they take in what the drained attempts recorded.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let runner { services.append(.init(service: runner, serviceName: "projections")) }
    services.append(.init(service: Worker(engine: engine, runner: runner, untilIdle: untilIdle, intake: intake, waitsFor: waitsFor, startNote: startNote),
                          successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "worker"))
    // Last: the first to hear of a shutdown by signal. (With --until-idle the worker ends the
    // group itself when idle, which is no shutdown to announce; a signal is said above.)
    if !untilIdle { services.append(.init(service: ShutdownNotice(waitsFor: waitsFor) { engine.runningAttempts }, serviceName: "shutdown-notice")) }
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger))
    do {
        try await group.run()
        // Idle: the live projections have stopped; deliver what is left, within the drain time.
        guard untilIdle, let runner else { return [] }
        // The group's signal handling ended with it: a signal now stops the delivery at once
        // (it was ignored, with every later one, for as long as a service that did not answer
        // held the drain).
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let listener = Task.detached {
            for await signal in signals {
                printErr("jobledger: stopped (\(signal)) while delivering the effects still owed: they stay pending in the log's outbox; "
                         + "`jobledger project --once --db \(engine.ledger.path)` delivers them")
                _exit(130)
            }
        }
        defer { listener.cancel() }
        let left = try await runner.drain(for: engine.options.drainTimeout)
        await runner.release()
        return left
    } catch let e as LedgerError {
        guard let fault = e.storageFault else { throw e }
        if stoppedEarly.load(ordering: .relaxed) {
            // A signal stopped the run during the fault: not --storage-wait running out.
            throw fail("interrupted during a storage fault (\(fault.summary)): every event written stays in the log; jobs that were running "
                       + "run again once their leases pass (the next `jobledger work` requeues them), once \(fault.remedy)", code: 130)
        }
        // A storage fault that outlasted --storage-wait: say what to do, exit 6.
        guard let bound = engine.options.storageFaults.giveUpAfter else { throw e }
        throw storageGaveUp(fault, bound: bound, nothingLost: "every event written stays in the log; jobs that were running "
                            + "run again once their leases pass (the next `jobledger work` requeues them), and effects still owed "
                            + "are delivered by `jobledger project --once`")
    }
}

/// Says which effect projections another process runs (it holds their lease) and what they
/// still owe: theirs to deliver, so not this run's exit status, but not silently either.
func reportLeftToOthers(ledger: Ledger, runner: ProjectionRunner, to write: (String) -> Void) {
    let effects = Set(runner.effects)
    guard let statuses = try? ledger.projectionStatus(Array(effects)) else { return }
    for s in statuses where effects.contains(s.name) && (s.pending > 0 || s.lag > 0) {
        guard let owner = s.owner, owner != runner.options.owner else { continue }
        write("projections: \(s.name) is run by another process (\(owner)); its \(s.pending) pending"
              + (s.lag > 0 ? " and \(s.lag) event\(s.lag == 1 ? "" : "s") not taken in yet" : "") + " are left to it")
    }
}

/// The exit status of a run that ended with effects still owed (see README § Exit codes).
let exitEffectsOwed: Int32 = 7

/// Says what the effect projections still owe after a run and how to finish it, and returns
/// the exit status for it (0 when nothing is owed).
func reportOwedEffects(_ left: [ProjectionStatus], path: String, now: Timestamp = .now, to write: (String) -> Void) -> Int32 {
    guard !left.isEmpty else { return 0 }
    for s in left {
        var parts: [String] = []
        if s.pending > 0 || s.lag > 0 {
            var p = "\(s.pending) pending"
            if s.lag > 0 { p += ", \(s.lag) event\(s.lag == 1 ? "" : "s") not taken in yet" }
            if let next = s.nextAttemptAt { p += " (next try \(next.iso8601))" }
            parts.append(p)
        }
        if s.dead > 0 { parts.append("\(s.dead) dead") }
        var line = "projections: \(s.name) still owes \(parts.joined(separator: ", "))"
        if let e = s.lastError { line += "; last error: \(e)" }
        write(line)
    }
    var next: [String] = []
    if left.contains(where: { $0.pending > 0 || $0.lag > 0 }) {
        // Items waiting out a backoff or a long Retry-After are not due yet: `--once` now
        // would deliver nothing and say the same again.
        let firstTry = left.filter { $0.pending > 0 && $0.lag == 0 }.compactMap(\.nextAttemptAt).min()
        if let firstTry, left.allSatisfy({ $0.lag == 0 }), firstTry > now {
            next.append("jobledger project --once --db \(path) after \(firstTry.iso8601), when the first try is due "
                        + "(or `jobledger project --db \(path)`, which delivers each as it comes due)")
        } else {
            next.append("jobledger project --once --db \(path)")
        }
    }
    for s in left where s.dead > 0 { next.append("jobledger projections retry \(s.name) --db \(path)") }
    write("projections: finish with: \(next.joined(separator: "  ·  "))  (exit \(exitEffectsOwed): effects still owed)")
    return exitEffectsOwed
}

struct Work: AsyncParsableCommand, TakesLogLevel {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker for the demo job kind 'design' against a log.",
        discussion: "Runs until SIGINT/SIGTERM (graceful: stops claiming, drains, then cancels), or with --until-idle until no job is queued, delayed or running (and, with --intake upstash, the stream has nothing new). With --intake upstash jobs come from the Upstash stream (--stream, default design:jobs) through a consumer group; with --status-cache upstash each job's state is published to the hash <stream>:<id>. Both are configured from the UPSTASH_* variables (see .env.example and Docs/Adapters/Upstash.md).")

    @OptionGroup var log: LogOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var projections: ProjectionOptions
    @OptionGroup var storage: StorageWaitOptions
    @OptionGroup var intake: IntakeOptions
    @OptionGroup var logging: LogLevelOptions

    func validate() throws { try OptionRanges.checkEnginePayloadLimit(log.maxPayloadBytes) }
    @Flag(help: "Stop once no job of the kinds this worker runs is queued, delayed or running (and the intake has nothing new).") var untilIdle = false
    @Flag(help: "No line per event (an attempt started, failed, completed): a backlog of 200,000 jobs wrote 400,000. The start line, warnings and --until-idle's summary still come.") var quiet = false

    func run() async throws {
        KnownEnvironment.warnAboutUnknown()
        let started = ContinuousClock.now
        try await guarded {
            await CommandInterrupt.install("before the work began: nothing was claimed or run")
            // A bad AnyCable, Vercel Blob or Upstash configuration (or a refused token) stops before
            // the log is touched.
            let sink = try projections.sink()
            let blobs = try projections.blobStore()
            let upstash = try intake.upstashConfiguration(projections)
            let feed = try await intake.make(upstash, projections: projections, waitingOutOutage: !untilIdle)
            try await projections.checkStatusCache(upstash)
            let storageWait = storage.bound(oneShot: untilIdle)
            let ledger = try await waitingOutStorageFaults(storageWait, waitingOutLocks: !untilIdle) { try log.open(create: true) }
            defer { closeLog(ledger) }
            let engine = worker.engine(ledger: ledger, storageWait: storageWait)
            printErr("jobledger: worker \(engine.options.workerID) on \(ledger.path), \(worker.workers) at a time")
            let startNotice = EngineStartNotice.watch(engine, ledger: ledger)
            defer { startNotice?.cancel() }
            let untilIdle = self.untilIdle
            let delayed = untilIdle ? await DelayedJobs.of(kind: DesignHandler.kind, in: ledger) : nil
            let delayedNote = delayed.map { "jobledger: --until-idle waits for \($0.text), the next due at \($0.next.iso8601) (Ctrl-C stops)" }
            // What happens, as plain lines on stderr (stdout stays free for scripts).
            let display = DemoDisplay(ledger: ledger, total: 0, tty: false, out: STDERR_FILENO, from: (try ledger.head()?.seq ?? 0) + 1,
                                      worker: engine.options.workerID, eventLines: !quiet)
            let ticker = Task { while !Task.isCancelled { display.update(); try? await Task.sleep(for: .milliseconds(50)) } }
            defer { ticker.cancel() }
            let runner = try projections.runner(ledger: ledger, sink: sink, blobs: blobs, upstash: upstash, storageWait: storageWait)
            let left = try await runWithSignals(engine: engine, runner: runner, untilIdle: untilIdle, intake: feed, startNote: delayedNote)
            // Ended before the command returns: a ticker still asleep held the ledger open at
            // exit, and the run stayed in an un-checkpointed -wal (a copy of the file alone lost it).
            ticker.cancel()
            await ticker.value
            display.update()
            // What the run came to, and how long it took: the lines above are each event.
            if untilIdle { printErr(display.outcomes.summary(after: started.duration(to: .now), interrupted: stoppedEarly.load(ordering: .relaxed))) }
            if untilIdle { reportLeftToOthers(ledger: ledger, runner: runner) { printErr($0) } }
            if untilIdle, !stoppedEarly.load(ordering: .relaxed), let stream = feed as? UpstashStreamIntake, let upstash {
                await reportPendingElsewhere(stream, claimIdle: upstash.claimIdle)
            }
            let status = reportOwedEffects(left, path: ledger.path) { printErr($0) }
            // Stopped by a signal before the queue was empty: not a finished run (a script's
            // `work --until-idle && next` went on with the backlog still queued), as for `demo`.
            if untilIdle, stoppedEarly.load(ordering: .relaxed) {
                let counts = (try? ledger.jobListPage(kind: DesignHandler.kind, limit: 0).counts) ?? [:]
                let left = (counts[.queued] ?? 0) + (counts[.running] ?? 0)
                if left > 0 {
                    let delayed = await DelayedJobs.of(kind: DesignHandler.kind, in: ledger)
                    printErr("interrupted: \(left) \(DesignHandler.kind) job\(left == 1 ? "" : "s") not finished (queued, or back in the queue)"
                             + (delayed.map { ", \($0.count) of them delayed until \($0.next.iso8601) at the earliest" } ?? "")
                             + "; `jobledger work --db \(ledger.path) --until-idle` finishes them"
                             + (delayed == nil ? "" : " (it waits until the delayed ones are due)"))
                    throw ExitCode(130)
                }
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// Entries of the stream still pending with other consumers once `work --until-idle` is idle:
/// a worker running beside this one acknowledges its own at its next read; one that stopped
/// before acknowledging them (killed with -9: the default consumer name has the process id, so a
/// restart does not read them as its own) holds them until another takes them over. A run that
/// said only "idle" and exited 0 left them unmentioned. Asked for 5 s at most.
func reportPendingElsewhere(_ intake: UpstashStreamIntake, claimIdle: Duration) async {
    guard let pending = try? await withoutCancelling(within: .seconds(5), { try await intake.pendingWithOtherConsumers() }),
          !pending.isEmpty else { return }
    let n = pending.values.reduce(0, +)
    let who = pending.keys.sorted().prefix(3).map { "\($0): \(pending[$0]!)" }.joined(separator: ", ") + (pending.count > 3 ? ", …" : "")
    printErr("jobledger: \(n) stream entr\(n == 1 ? "y is" : "ies are") pending with other consumers of \(intake.options.stream) (group \(intake.options.group); \(who)): "
             + "a running worker acknowledges its own; those of one that stopped are taken over once idle for \(durationText(claimIdle)) "
             + "(JOBLEDGER_UPSTASH_CLAIM_IDLE_MS) by `jobledger work --intake upstash` (it keeps going), or by this command run again after that")
}

/// Where job requests come from (shared by `work` and `demo`).
struct IntakeOptions: ParsableArguments {
    @Option(help: "Where jobs come from: log (submitted to the log itself) or upstash (the Upstash stream --stream through a consumer group, configured from the UPSTASH_* variables).") var intake: IntakeSource = .log

    /// The Upstash configuration when `--intake upstash` or `--status-cache upstash` asks for
    /// it, checked before anything runs (exit 2 naming a missing or invalid variable).
    func upstashConfiguration(_ projections: ProjectionOptions) throws -> UpstashConfiguration? {
        guard intake == .upstash || (projections.statusCache == .upstash && !projections.noEffects) else { return nil }
        return try projections.upstashConfiguration()
    }

    /// The stream intake for `--intake upstash` (nil for `log`); makes sure the consumer group
    /// exists, so a refused token stops the command at once, with exit 2.
    /// With `waitingOutOutage` (a worker that runs until stopped), Upstash not answering at
    /// start (a 503, no connection) is waited out, said once, as it is once the worker runs: a
    /// burst of 503s of a third of a second stopped a long-running worker with exit 6.
    func make(_ configuration: UpstashConfiguration?, projections: ProjectionOptions, kinds: Set<String> = [DesignHandler.kind],
              waitingOutOutage: Bool = false) async throws -> (any JobIntake)? {
        guard intake == .upstash, let c = configuration else { return nil }
        var o = UpstashStreamIntake.Options(stream: c.stream, group: c.group, consumer: c.consumer, kinds: kinds)
        if projections.statusCache == .upstash { o.ownerHashPrefix = c.stream + ":" }
        o.batchSize = c.batchSize
        o.claimIdle = c.claimIdle
        let feed = UpstashStreamIntake(redis: projections.upstashClient(c), options: o, logger: cliLogger("jobledger.upstash.intake"))
        var wait = Duration.milliseconds(100), said = false
        while true {
            do {
                try await feed.ensureGroup()
                if said { printErr("jobledger: Upstash intake: Upstash answers again; going on") }
                return feed
            } catch let e as UpstashError {
                switch e {
                case .unauthorized, .rejected: throw fail("\(e)", code: 2)
                case .unavailable where waitingOutOutage:
                    if !said { printErr("jobledger: Upstash intake: \(e); retrying until it answers (stop with Ctrl-C)") }
                    said = true
                    try await Task.sleep(for: wait)
                    wait = min(wait * 2, .seconds(2))
                case .command, .unavailable: throw fail("Upstash intake: \(e)", code: 6)
                }
            }
        }
    }
}

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Queue a job; prints its id.")

    @OptionGroup var log: LogOptions
    @OptionGroup var storage: StorageWaitOptions
    @Argument(help: "The job kind (the demo worker runs 'design').") var kind: String
    @Option(help: "The job's input as JSON.") var input: String = "{}"
    @Option(help: "The same key with the same job returns the first job's id and queues nothing; with another kind, input, priority, attempts or run-at it is refused (exit 3).") var idempotencyKey: String?
    @Option(help: "Higher runs first, \(OptionRanges.priority.bounds).") var priority: Int = 0
    @Option(help: "Attempts before the job fails for good, \(OptionRanges.maxAttempts.bounds).") var maxAttempts: Int = 3
    @Option(help: "Not before this time (ISO-8601 UTC, or milliseconds since 1970), \(OptionTime.rangeText).") var runAt: String?

    func validate() throws {
        try OptionRanges.priority.check(priority)
        try OptionRanges.maxAttempts.check(maxAttempts)
        if let runAt { _ = try OptionTime.parse(runAt, option: "--run-at") }
    }

    func run() async throws {
        try await guarded {
            let inputValue: JSONValue
            do { inputValue = try JSONValue(parsing: input) } catch {
                throw LedgerError.invalidPayload(PayloadError(type: .queued, reason: "--input: \(error)"))
            }
            let at = try runAt.map { try OptionTime.parse($0, option: "--run-at") }
            let ledger = try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try log.open(create: true) }
            defer { closeLog(ledger) }
            let engine = quietEngine(ledger)
            let id: JobID
            do {
                id = try await waitingOutStorageFaults(storage.bound(oneShot: true)) {
                    try await engine.submit(kind: kind, input: inputValue, idempotencyKey: idempotencyKey, runAt: at,
                                            maxAttempts: maxAttempts, priority: priority)
                }
            } catch let reused as IdempotencyKeyReused {
                // A refusal like the log's own (exit 3), not an error of the command line.
                throw fail("rejected: \(reused)", code: 3)
            }
            print(id)
        }
    }
}
