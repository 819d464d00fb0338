import ArgumentParser
import Foundation
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import UnixSignals
import JobLedgerUpstash
import JobLedgerVercelBlob
import CoreMetrics
import Logging
import ServiceLifecycle

/// The projections `jobledger` itself registers (an app that embeds JobLedger may add its own;
/// `projections` shows any the log holds).
let builtInProjections: [ProjectionName] = [.jobs, .blob, .broadcast]

/// How a process keeps the projections (shared by `work`, `demo` and `project`).
struct ProjectionOptions: ParsableArguments {
    @OptionGroup var store: BlobStoreOptions
    @Option(help: "Broadcast stream names are this prefix plus the job id.") var streamPrefix: String = "job:"
    @Option(help: "Tries of an upload or broadcast before it becomes a dead letter, \(OptionRanges.maxAttempts.bounds).") var maxAttempts: Int = 8
    @Flag(help: "Keep only the jobs table; publish nothing and broadcast nothing.") var noEffects = false
    @Option(help: "Where broadcasts go: hub (in-process) or anycable (configured from the ANYCABLE_* variables; see .env.example).") var broadcast: BroadcastTarget = .hub
    @Option(help: "Where each job's latest state is published: table (the jobs table only) or upstash (also the hash <stream>:<id>, configured from the UPSTASH_* variables; see .env.example).") var statusCache: StatusCacheTarget = .table
    @Option(help: "The Upstash stream jobs come from, and the prefix of the status hashes (default: $JOBLEDGER_UPSTASH_STREAM, else design:jobs).") var stream: String?

    func validate() throws {
        try OptionRanges.maxAttempts.check(maxAttempts)
        if let stream { try checkStream(stream) }
        try checkStreamPrefix(streamPrefix)
    }

    /// The store `--blob-store` names, checked (call it before the log is touched).
    func blobStore(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BlobStoreChoice {
        try store.resolve(environment: environment)
    }

    /// The sink `--broadcast` names: the in-process hub, or AnyCable configured from the
    /// environment (a missing or invalid variable is a usage error that names it).
    func sink(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any BroadcastSink {
        switch broadcast {
        case .anycable:
            do {
                return try AnyCableBroadcaster(configuration: try AnyCableConfiguration(environment: environment), logger: cliLogger("jobledger.anycable"))
            } catch {
                throw fail("\(error) (see .env.example)", code: 2)
            }
        case .hub:
            return BroadcastHub()
        }
    }

    /// The Upstash configuration from the environment (`--stream` wins over
    /// `JOBLEDGER_UPSTASH_STREAM`); a missing or invalid variable is exit 2, naming it and never
    /// showing its value.
    func upstashConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> UpstashConfiguration {
        do {
            var c = try UpstashConfiguration(environment: environment)
            if let stream { c.stream = stream }
            return c
        } catch {
            throw fail("\(error) (see .env.example)", code: 2)
        }
    }

    /// A client for `configuration`, logging at the process's level (`LogLevel`).
    func upstashClient(_ configuration: UpstashConfiguration) -> UpstashRedis {
        UpstashRedis(configuration: configuration, logger: cliLogger("jobledger.upstash"))
    }

    /// With `--status-cache upstash`, a token Upstash refuses stops the command at start (exit
    /// 2, before the log is touched): it was taken, and every status write was refused and
    /// dead-lettered. The check is a write (a DEL of a key no job's status can have: `#` is
    /// in no job id), so that a read-only token is refused too. Upstash not answering is left
    /// to the projection's retries.
    func checkStatusCache(_ configuration: UpstashConfiguration?) async throws {
        guard let configuration, statusCache == .upstash, !noEffects else { return }
        // One try, within a few seconds: an Upstash that does not answer would otherwise hold
        // the start for the timeout times the retries.
        let client = UpstashRedis(url: configuration.url, token: configuration.token,
                                  requestTimeout: min(configuration.requestTimeout, .seconds(5)), retries: 0, logger: cliLogger("jobledger.upstash"))
        do {
            _ = try await client.send(["DEL", "\(configuration.stream):#jobledger-start-check"], idempotent: true)
        } catch {
            switch error {
            case .unauthorized, .rejected: throw fail("Upstash status cache: \(error)", code: 2)
            case .command(let m) where m.uppercased().hasPrefix("NOPERM"):
                throw fail("Upstash status cache: the token may not write (\(m)): give the Standard token, not the Read-Only one", code: 2)
            case .command, .unavailable: return
            }
        }
    }

    /// The runner with the `--blob-store` store (unless `blobs` is given) and the `--broadcast`
    /// sink (unless `sink` is given); with `upstash`, the status cache on Upstash too.
    /// `storageWait`: how long a storage fault may last before a run stops (nil: until it clears).
    func runner(ledger: Ledger, sink: (any BroadcastSink)? = nil, blobs: BlobStoreChoice? = nil, upstash: UpstashConfiguration? = nil,
                storageWait: Duration?, metrics: (any MetricsFactory)? = nil) throws -> ProjectionRunner {
        var o = ProjectionRunner.Options()
        o.metrics = metrics
        o.storageFaults.giveUpAfter = storageWait
        o.maxAttempts = maxAttempts
        o.streams = StreamNaming(prefix: streamPrefix)
        o.logger = cliLogger("jobledger.projections")
        // Every flag above is range-checked in `validate()` (exit 64) before this runs; should a
        // value still be one the runner refuses, it stays a usage error naming the flag, rather
        // than a failure of the run.
        if let refused = Self.refusal(of: o) {
            let flag = ["maxAttempts": "--max-attempts", "storageFaults.giveUpAfter": "--storage-wait"][refused.option]
            throw fail(flag.map { "\($0) \(refused.reason)" } ?? refused.description, code: 64)
        }
        if noEffects { return ProjectionRunner(ledger: ledger, options: o) }
        var extra: [any EffectProjection] = []
        if statusCache == .upstash, let upstash {
            extra.append(UpstashStatusCache(configuration: upstash, redis: upstashClient(upstash)))
        }
        return ProjectionRunner(ledger: ledger, blobs: try (blobs ?? blobStore()).store(for: ledger),
                                broadcasts: try sink ?? self.sink(), extra: extra, options: o)
    }
}

extension ProjectionOptions {
    /// What `ProjectionRunner.Options.validate()` refuses in `options`, or nil.
    static func refusal(of options: ProjectionRunner.Options) -> InvalidProjectionOptions? {
        do throws(InvalidProjectionOptions) {
            try options.validate()
            return nil
        } catch {
            return error
        }
    }
}

/// `--stream NAME`: 1…200 bytes, no spaces or control characters.
func checkStream(_ stream: String) throws {
    do { try UpstashConfiguration.checkName(stream, variable: "--stream") } catch { throw ValidationError("\(error)") }
}

struct Project: AsyncParsableCommand, TakesLogLevel {
    static let configuration = CommandConfiguration(
        abstract: "Keep the projections up with the log: the jobs table, published artefacts, broadcasts.",
        discussion: "Runs until SIGINT/SIGTERM, catching up from the stored checkpoints first; with --once, catches up and exits. Broadcasts go where --broadcast says: the in-process hub (watch what was sent with `jobledger tail`) or AnyCable, configured from the ANYCABLE_* variables (see .env.example). Artefacts go where --blob-store says: a local folder (--blobs) or Vercel Blob, configured from BLOB_READ_WRITE_TOKEN.")

    @OptionGroup var log: LogOptions
    @OptionGroup var projections: ProjectionOptions
    @OptionGroup var storage: StorageWaitOptions
    @OptionGroup var logging: LogLevelOptions
    @Flag(help: "Catch up once and exit.") var once = false

    func run() async throws {
        KnownEnvironment.warnAboutUnknown()
        try await guarded {
            await CommandInterrupt.install(once ? "while catching up: each projection resumes from its checkpoint, and effects still owed stay in the outbox"
                                           : "before the projections began: nothing was delivered")
            // All checked before the log is touched.
            let sink = try projections.noEffects ? nil : projections.sink()
            let blobs = try projections.noEffects ? nil : projections.blobStore()
            let upstash = projections.statusCache == .upstash && !projections.noEffects ? try projections.upstashConfiguration() : nil
            try await projections.checkStatusCache(upstash)
            let storageWait = storage.bound(oneShot: once)
            let ledger = try await waitingOutStorageFaults(storageWait, waitingOutLocks: !once) { try log.open(create: false) }
            defer { closeLog(ledger) }
            let runner = try projections.runner(ledger: ledger, sink: sink, blobs: blobs, upstash: upstash, storageWait: storageWait)
            if once {
                // What each try did adds up: a try that a storage fault cut short kept its work.
                // Lag is judged against the head now: what others append meanwhile is not owed.
                let headAtStart = try ledger.head()?.seq ?? 0
                var r = ProjectionRunner.Report()
                // The jobs table's way to the head, followed by its checkpoint (the runner says
                // nothing while it catches up).
                let from = (try? ledger.jobsTableCheckpoint().checkpoint) ?? 0
                let catchingUp = CommandProgress("projecting", total: Int(max(0, headAtStart - from)))
                let follower = catchingUp.following { (try? ledger.jobsTableCheckpoint().checkpoint).map { Int(max(0, $0 - from)) } }
                defer { follower?.cancel(); catchingUp.finish() }
                try await waitingOutStorageFaults(storageWait, nothingLost: "each projection resumes from its checkpoint, and effects still owed stay in the outbox") {
                    let one = try await runner.catchUp()
                    r.applied += one.applied; r.ingested += one.ingested; r.delivered += one.delivered
                    r.failed += one.failed; r.dead += one.dead
                    r.notOwned = one.notOwned
                }
                follower?.cancel()
                catchingUp.finish()
                await runner.release()
                print("applied \(r.applied) events to the jobs table; took in \(r.ingested); delivered \(r.delivered), failed \(r.failed), dead \(r.dead)")
                for name in r.notOwned.sorted(by: { $0.rawValue < $1.rawValue }) {
                    let owner = (try? ledger.projectionOwner(name)).flatMap { $0 } ?? "another process"
                    printErr("jobledger: \(name) not run here: \(owner) is running it (its lease is renewed while it runs)")
                }
                if !r.notOwned.isEmpty { throw ExitCode(5) }
                // Effects this run owns and could not finish (backing off, or dead): said, with
                // what finishes them, and exit 7, as `work --until-idle` ends.
                let effects = runner.projections.filter { $0 != .jobs && !r.notOwned.contains($0) }
                let owed = try ledger.projectionStatus(effects).filter { effects.contains($0.name) && ($0.pending > 0 || $0.dead > 0 || $0.checkpoint < headAtStart) }
                let status = reportOwedEffects(owed, path: ledger.path, to: printErr)
                if status != 0 { throw ExitCode(status) }
                return
            }
            let logger = cliLogger("jobledger.service")
            // The notice last, so the first to hear of a signal: it says the run is stopping (it
            // stopped without a word, against Operations.md § Signals) and lets a second signal
            // stop it at once.
            var notice = ShutdownNotice(waitsFor: "the projections finish their current step and give up their leases") { [] }
            notice.startNote = "jobledger: keeping \(runner.projections.map(\.rawValue).joined(separator: ", ")) up with \(ledger.path)"
            let group = ServiceGroup(configuration: .init(services: [.init(service: runner, serviceName: "projections"),
                                                                     .init(service: notice, serviceName: "shutdown-notice")],
                                                          gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger))
            defer { CommandInterrupt.takeBack("after the projections stopped: each resumes from its checkpoint") }
            do {
                try await group.run()
            } catch let e as LedgerError {
                guard let fault = e.storageFault, let storageWait else { throw e }
                throw storageGaveUp(fault, bound: storageWait, nothingLost: "each projection resumes from its checkpoint and pending effects stay in the outbox")
            }
        }
    }
}

struct Projections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Each projection's checkpoint, lag, pending and dead items; re-drive dead items.",
        subcommands: [ProjectionsStatus.self, ProjectionsRetry.self, ProjectionsRebuild.self], defaultSubcommand: ProjectionsStatus.self)
}

struct ProjectionsRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Put a projection's dead items back in line; the running projection delivers them.")

    @OptionGroup var log: LogOptions
    @Argument(help: "The effect projection: blob, broadcast, status-cache, or one an app registers.") var name: String

    func run() async throws {
        try await guarded {
            guard let p = ProjectionName(rawValue: name), p != .jobs else {
                throw fail("'\(name)' is not an effect projection (expected: blob, broadcast, status-cache, or the name of one an app registers)", code: 2)
            }
            let ledger = try log.open(create: false)
            defer { closeLog(ledger) }
            // A misspelt name re-drove nothing and said "0 dead items queued again", exit 0.
            try checkEffectProjectionIsKnown(p, in: ledger)
            let (n, superseded) = try await ledger.redriveCounting(p)
            // Dead progress messages that a later message of their job supersedes are not sent
            // again (a browser never gets progress after a newer state): said, since DEAD counted them.
            let skipped = superseded == 0 ? "" : "; \(superseded) superseded by a later message of their job, not sent again (counted as coalesced)"
            print("\(p): \(n) dead item\(n == 1 ? "" : "s") queued again\(skipped); a running `jobledger work` or `jobledger project` delivers them")
        }
    }
}

struct ProjectionsRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Empty the jobs table and rebuild it from the log (effects are never re-sent).")

    @OptionGroup var log: LogOptions

    func run() async throws {
        try await guarded {
            let ledger = try log.open(create: false)
            defer { closeLog(ledger) }
            let headAtStart = try ledger.head()?.seq ?? 0
            // The whole log must fold before the table is emptied: a log whose events break a
            // job's lifecycle (changed behind its back) stopped the rebuild after the reset,
            // leaving an empty table at checkpoint 0 beside the refusal, and `jobs` nothing to
            // read. One read pass, folded as `verify` folds (holding the jobs in flight, not
            // the log).
            var fold = LedgerFold()
            let checking = CommandProgress("checking the log", total: Int(headAtStart))
            var read = 0
            try ledger.forEachEvent { e in
                try fold.apply(e)
                read += 1
                checking.update(read)
            }
            checking.finish()
            // Interrupted once the table is emptied, it is left part rebuilt: said, with what
            // finishes it (it exited 130 without a word).
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            let path = ledger.path
            Task.detached {
                for await _ in signals {
                    let through = (try? ledger.projectionStatus([.jobs]))?.first.map { " (through seq \($0.checkpoint))" } ?? ""
                    printErr("jobledger: interrupted: the jobs table is partly rebuilt\(through); `jobledger project --once --db \(path)` "
                             + "(or a running `jobledger work`) catches it up, or run `jobledger projections rebuild` again")
                    _exit(130)
                }
            }
            try await ledger.resetJobsTable()
            var o = ProjectionRunner.Options()
            o.logger = cliLogger("jobledger.projections")
            o.batchSize = 4096
            let rebuilding = CommandProgress("rebuilding the jobs table", total: Int(headAtStart))
            let follower = rebuilding.following { (try? ledger.jobsTableCheckpoint().checkpoint).map { Int($0) } }
            let r: ProjectionRunner.Report
            do {
                r = try await ProjectionRunner(ledger: ledger, options: o).catchUp()
                follower?.cancel()
                rebuilding.finish()
            } catch {
                follower?.cancel()
                rebuilding.finish()
                throw error
            }
            // What the table holds now: another process keeping the projections (a `work`) may
            // have applied part of the log after the reset, and the log may have grown meanwhile.
            let table = try ledger.projectionStatus([.jobs])[0]
            print(rebuildSummary(table, appliedHere: r.applied, headAtStart: headAtStart))
        }
    }
}

/// What `projections rebuild` did, true whoever helped: the events the jobs table was rebuilt
/// from and the seq it reaches, how many this command applied when another process applied
/// the rest, and how far the log grew meanwhile.
///
/// ```
/// jobs: rebuilt from 12000 events, through seq 12000 (8192 applied by this command, 3808 by another process keeping the projections)
/// ```
func rebuildSummary(_ table: ProjectionStatus, appliedHere: Int, headAtStart: Int64) -> String {
    var notes: [String] = []
    if Int64(appliedHere) < table.applied {
        notes.append("\(appliedHere) applied by this command, \(table.applied - Int64(appliedHere)) by another process keeping the projections")
    }
    if table.checkpoint > headAtStart {
        notes.append("the log grew from seq \(headAtStart) meanwhile")
    }
    let line = "jobs: rebuilt from \(table.applied) events, through seq \(table.checkpoint)"
    return notes.isEmpty ? line : line + " (" + notes.joined(separator: "; ") + ")"
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print broadcast messages (or another effect projection's items) as they are delivered, one JSON line each.",
        discussion: "Each line is {\"stream\": …, \"data\": <message>}, the message as `Docs/Broadcast.md` describes it. Follows live by default, polling the log's outbox; another process (`work`, `project`, `demo`) runs the projection.")

    @OptionGroup var log: LogOptions
    @Option(help: "The effect projection whose delivered items to print (default broadcast).") var projection: String = "broadcast"
    @Option(help: "Only this job's messages.") var job: String?
    @Option(help: "Start after this seq, \(OptionRanges.after.bounds) (default: the messages sent from now on; 0 for all).") var after: Int64?
    @Flag(help: "Print what has been sent and exit instead of following.") var noFollow = false
    @Option(help: "Milliseconds between polls when following, \(OptionRanges.pollMs.bounds).") var pollMs: Int = 100

    func validate() throws {
        try OptionRanges.after.check(after)
        try OptionRanges.pollMs.check(pollMs)
    }

    func run() async throws {
        try await guarded {
            let id = try job.map { j in try wrap { () throws(InvalidJobID) in try JobID(j) } }
            let name: ProjectionName
            do { name = try ProjectionName(validating: projection) } catch { throw fail("--projection: \(error)", code: 64) }
            // Read-only, as every reader: it only reads, and opening the log for writing changed
            // the file (its change counter) and failed on a log the user may only read.
            var ledger = try log.openReadOnly()
            // A misspelt name printed nothing and, following, waited for ever.
            try checkEffectProjectionIsKnown(name, in: ledger)
            // As `history` and `state`: a job the log does not have is refused, not followed in silence.
            if let id, try await ledger.state(of: id) == nil {
                throw fail("no such job \(id) in \(ledger.path)", code: 3)
            }
            // A seq past the head was never sent by this log (one restored from a backup, a seq
            // of another log): following from there waited silently for ever, skipping every new
            // message as already seen. Refused, as the SSE routes refuse such a Last-Event-ID.
            if let after, after > 0 {
                let head = try ledger.head()?.seq ?? 0
                guard after <= head else {
                    throw fail("--after \(after) is past the log's head (seq \(head)) of \(ledger.path): no message of this log has that seq, "
                               + "and following from there would skip every new message (was the log restored from a backup?); "
                               + "give 0…\(head), or leave --after out to follow from now", code: 64)
                }
            }
            let followed = fileIdentity(ledger.path)
            // The file deleted or replaced (a new log at the path): the open one takes no more
            // writes, and following it would wait silently for ever.
            let path = ledger.path
            func gone() -> ExitCode {
                fail("the log \(path) was deleted or replaced while followed; stopping (run tail again to follow the log now at that path)", code: 6)
            }
            var cursor = try after ?? (noFollow ? 0 : ledger.lastOutboxSeq(name, status: .sent))
            while !Task.isCancelled {
                // Opened without locks (no writer had the log open), it sees no writer's -wal: once
                // one appears, or the file was written under it, it is opened again, with locks.
                if ledger.readsWithoutLocks, FileManager.default.fileExists(atPath: Ledger.resolvingSymlink(ledger.path) + "-wal") { ledger = try log.openReadOnly() }
                let items: [OutboxItem]
                do {
                    items = try ledger.outboxItems(name, after: cursor, status: .sent, job: id, limit: 1000)
                } catch let e as LedgerError where ledger.readsWithoutLocks && !noFollow && e.storageFault == nil {
                    guard fileIdentity(ledger.path) == followed else { throw gone() }
                    ledger = try log.openReadOnly()
                    items = try ledger.outboxItems(name, after: cursor, status: .sent, job: id, limit: 1000)
                }
                for item in items {
                    let data = (try? JSONValue(parsing: item.body)) ?? .string(item.body)
                    print(JSONValue.object(["stream": .string(item.target), "data": data]).canonicalText)
                }
                // The reader has gone (`tail | head -1`): stop, as SIGPIPE once stopped it.
                if standardOutputIsGone() { return }
                if let last = items.last { cursor = last.seq; continue }
                if noFollow { return }
                if fileIdentity(ledger.path) != followed { throw gone() }
                try await Task.sleep(for: .milliseconds(pollMs))
            }
        }
    }
}

/// The device and inode of the file at `path`, nil when there is none: which file a path names.
func fileIdentity(_ path: String) -> [UInt64]? {
    var s = stat()
    guard stat(path, &s) == 0 else { return nil }
    return [UInt64(s.st_dev), UInt64(s.st_ino)]
}

/// `--stream-prefix`: 1…100 bytes, in every command that takes it.
func checkStreamPrefix(_ prefix: String) throws {
    guard !prefix.isEmpty, prefix.utf8.count <= 100 else { throw ValidationError("--stream-prefix must be 1…100 bytes") }
}

/// Refuses (exit 2) an effect projection name that is neither built in (blob, broadcast,
/// status-cache) nor in the log's projections table: a misspelling, which would otherwise act on
/// nothing and say so as if all were well.
func checkEffectProjectionIsKnown(_ name: ProjectionName, in ledger: Ledger) throws {
    let known = Set(builtInProjections.map(\.rawValue) + ["status-cache"]).union(try ledger.projectionStatus().map(\.name.rawValue)).subtracting(["jobs"])
    guard known.contains(name.rawValue) else {
        throw fail("no effect projection named '\(name)' in \(ledger.path) (known: \(known.sorted().joined(separator: ", ")))", code: 2)
    }
}
