import ArgumentParser
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import JobLedgerVercelBlob
import Logging
import Synchronization

/// `--blob-store folder|vercel` and `--blobs FOLDER`: where artefacts are published (shared by
/// `work`, `demo`, `project`, `blobs`, `replay` and `state`).
struct BlobStoreOptions: ParsableArguments {
    @Option(help: "Where artefacts are published: folder (a local folder, --blobs) or vercel (Vercel Blob, configured from BLOB_READ_WRITE_TOKEN and VERCEL_BLOB_API_URL; see .env.example).")
    var blobStore: BlobStoreTarget = .folder
    @Option(help: "The folder of --blob-store folder (default: <db>.blobs beside the log).") var blobs: String?

    func validate() throws {
        if let blobs { try LogOptions.checkNotBlank(blobs, option: "--blobs", what: "the folder artefacts are published to, such as jobledger.sqlite.blobs") }
        if blobStore == .vercel, blobs != nil {
            throw ValidationError("--blobs names the folder of --blob-store folder; with --blob-store vercel artefacts go to Vercel Blob")
        }
    }

    /// The store, configured and checked: a missing or malformed Vercel Blob variable is exit 2,
    /// naming it (never its value). Call it before the log is touched.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BlobStoreChoice {
        switch blobStore {
        case .folder:
            return BlobStoreChoice(folder: blobs, vercel: nil)
        case .vercel:
            do {
                let logger = cliLogger("jobledger.vercel-blob")
                return BlobStoreChoice(folder: nil, vercel: VercelBlobStore(configuration: try VercelBlobConfiguration(environment: environment),
                                                                            logger: logger))
            } catch {
                throw fail("\(error) (see .env.example)", code: 2)
            }
        }
    }
}

/// The blob store a command was pointed at.
struct BlobStoreChoice: Sendable {
    /// `--blobs`, when given.
    let folder: String?
    /// The Vercel Blob store, with `--blob-store vercel`.
    let vercel: VercelBlobStore?

    func folderPath(forLog path: String) -> String { folder ?? path + ".blobs" }

    /// The store for the log at `path` (a folder store's default folder is beside it).
    func store(forLog path: String) -> any BlobStore {
        vercel ?? LocalFolderBlobStore(path: folderPath(forLog: path))
    }

    func store(for ledger: Ledger) -> any BlobStore { store(forLog: ledger.path) }

    /// Where artefacts go, for people: `Vercel Blob store <id>` or `<folder>/`.
    func place(forLog path: String) -> String {
        vercel.map { "Vercel Blob store \($0.storeID)" } ?? folderPath(forLog: path) + "/"
    }

    func place(for ledger: Ledger) -> String { place(forLog: ledger.path) }
}

struct Blobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The published artefacts in the blob store: list them, prune those of old jobs.",
        subcommands: [BlobsList.self, BlobsPrune.self], defaultSubcommand: BlobsList.self)
}

/// The job id of an artefact pathname `jobs/<id>/…`, if it is one.
func artefactJob(_ pathname: String) -> JobID? {
    let parts = pathname.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "jobs" else { return nil }
    return try? JobID(String(parts[1]))
}

struct BlobsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the blobs in the store, with the state of the job each belongs to.",
        discussion: "Lists the blobs whose pathname starts with --prefix (default jobs/, the blob projection's artefacts), in pathname order, with size, URL, and the job's state and finish time from the log (when the log exists).")

    @OptionGroup var log: LogOptions
    @OptionGroup var store: BlobStoreOptions
    @Option(help: "Only pathnames starting with this.") var prefix: String = "jobs/"
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        try await guarded {
            let choice = try store.resolve()
            var states: [JobID: JobState] = [:]
            // Read again with locks when a writer disturbed the read without them (`retryingRead`).
            do { states = try log.retryingRead { try $0.jobStates() } } catch LedgerError.noSuchLog {
                // The store is listed all the same (it may outlive its log); a mistyped --db
                // showed every blob as "not in the log", without a word why.
                printErr("jobledger: no JobLedger log at \(log.path) (check --db or JOBLEDGER_DB): the blobs are listed without their jobs' states")
                states = [:]
            }
            let blobs: [BlobInfo]
            do { blobs = try await choice.store(forLog: log.path).list(prefix: prefix) } catch {
                throw fail("cannot list \(choice.place(forLog: log.path)): \(error)", code: 6)
            }
            func job(_ b: BlobInfo) -> JobState? { artefactJob(b.pathname).flatMap { states[$0] } }
            if json {
                print(JSONValue.array(blobs.map { b in
                    let s = job(b)
                    return .object(["pathname": .string(b.pathname), "url": .string(b.url), "size": .int(b.size),
                                    "job": artefactJob(b.pathname).map { .string($0.rawValue) } ?? .null,
                                    "state": s.map { .string($0.status.rawValue) } ?? .null,
                                    "finished_at": s?.finishedAt.map { .string($0.iso8601) } ?? .null])
                }).canonicalText)
                return
            }
            printTable(header: ["PATHNAME", "SIZE", "JOB STATE", "FINISHED", "URL"], rows: blobs.map { b in
                let s = job(b)
                return [b.pathname, "\(b.size)", s?.status.rawValue ?? (artefactJob(b.pathname) == nil ? "-" : "not in the log"),
                        s?.finishedAt?.iso8601 ?? "", b.url]
            })
            printErr("\(plural(blobs.count, "blob")), \(blobs.reduce(0) { $0 + $1.size }) bytes, in \(choice.place(forLog: log.path))")
            // A mistyped --blobs (or a log that never published) listed "0 blobs" as if it were an empty store.
            if choice.vercel == nil, !FileManager.default.fileExists(atPath: choice.folderPath(forLog: log.path)) {
                printErr("jobledger: warning: the folder \(choice.folderPath(forLog: log.path)) does not exist"
                         + (store.blobs == nil ? " (nothing was published beside this log yet)" : " (check --blobs)"))
            }
        }
    }
}

/// The job kind that records a prune in the log: its `queued` event says what is deleted and
/// why, its progress how far it got, its `completed` event what was deleted.
let blobsPruneKind = "jobledger.blobs.prune"

struct BlobsPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete the artefacts of jobs that finished before a time (a dry run unless --apply).",
        discussion: """
            Finds the jobs that finished (completed, failed or canceled) before --finished-before, and the \
            blobs of each (every pathname under jobs/<id>/ in the store). Without --apply it only lists them \
            and changes nothing. With --apply (or --yes) it deletes them and records it in the log as a job of \
            kind \(blobsPruneKind): its queued event names the jobs, the pathnames, the time and the reason; \
            its progress and completed events say what was deleted (`jobledger history <id>`). Artefacts of \
            jobs that are still queued or running, and of jobs the log does not know, are never touched. \
            --apply is refused (exit 7, nothing deleted) while the blob projection has yet to take in \
            artefacts of those jobs, which it would publish after the prune: let it catch up first.
            """)

    @OptionGroup var log: LogOptions
    @OptionGroup var store: BlobStoreOptions
    @Option(help: "Prune the artefacts of jobs finished before this time (ISO-8601 UTC, or milliseconds since 1970), \(OptionTime.rangeText).") var finishedBefore: String
    @Flag(name: [.customLong("apply"), .customLong("yes")], help: "Delete them, recorded in the log (without it: a dry run that changes nothing).") var apply = false
    @Option(help: "Why, for the record, 1…500 bytes.") var reason: String = "retention"

    func validate() throws {
        _ = try OptionTime.parse(finishedBefore, option: "--finished-before")
        guard !reason.isEmpty, reason.utf8.count <= 500 else { throw ValidationError("--reason must be 1…500 bytes") }
    }

    func run() async throws {
        try await guarded {
            let before = try OptionTime.parse(finishedBefore, option: "--finished-before")
            let choice = try store.resolve()  // checked before the log is opened
            let ledger = apply ? try log.open(create: false) : try log.openReadOnly()
            let place = choice.place(for: ledger)
            let blobStore = choice.store(for: ledger)
            // A dry run reads without locks: read again with them when a writer disturbed it.
            let states = apply ? try ledger.jobStates() : try log.retryingRead(first: ledger) { try $0.jobStates() }
            let old = states.values.filter { s in
                guard s.status.isTerminal, s.kind != blobsPruneKind, let f = s.finishedAt else { return false }
                return f < before
            }
            let oldByID = Dictionary(uniqueKeysWithValues: old.map { ($0.id, $0) })
            let all: [BlobInfo]
            do { all = try await blobStore.list(prefix: "jobs/") } catch {
                throw fail("cannot list \(place): \(error)", code: 6)
            }
            let doomed = all.filter { artefactJob($0.pathname).map { oldByID[$0] != nil } ?? false }
            // Uploads still owed for those jobs (dead, or pending): a re-drive after the prune
            // would publish what the log says was deleted. They are dropped with the rest.
            let oldJobs = Set(oldByID.keys)
            // Artefacts of those jobs the blob projection has yet to take in: it would publish
            // them after the prune, so an apply that would delete or record anything is refused
            // while there are any. Read before what is owed: an item a running projection takes
            // in meanwhile is then in one or the other (read after, it could be in neither).
            let backlog = apply ? try BlobBacklog(of: oldJobs, in: ledger) : try log.retryingRead(first: ledger) { try BlobBacklog(of: oldJobs, in: $0) }
            let owed = apply ? try ledger.owedItems(.blob, of: oldJobs) : try log.retryingRead(first: ledger) { try $0.owedItems(.blob, of: oldJobs) }
            let owedCount = owed.values.reduce(0, +)
            let jobs = Set(doomed.compactMap { artefactJob($0.pathname) }).union(owed.keys)
            let bytes = doomed.reduce(Int64(0)) { $0 + $1.size }
            let uploads = owedCount == 0 ? "" : " and \(plural(owedCount, "upload")) still owed for them (dead or pending), which will not be made"
            let what = "\(plural(doomed.count, "blob")) (\(bytes) bytes) of \(plural(jobs.count, "job")) finished before \(before.iso8601)"
            guard !doomed.isEmpty || owedCount > 0 else {
                print("nothing to prune: no artefacts of jobs finished before \(before.iso8601) in \(place)")
                if let why = backlog.explanation { print("note: \(why)") }
                return
            }
            if apply, let why = backlog.explanation { throw fail("refused, nothing was deleted: \(why)", code: 7) }
            if !apply {
                if let why = backlog.explanation { print("note: --apply would be refused now: \(why)") }
                print("would delete \(what) from \(place)\(uploads)" + (doomed.isEmpty ? "" : ":"))
                printTable(header: nil, rows: doomed.map { b in
                    let s = artefactJob(b.pathname).flatMap { oldByID[$0] }
                    return [b.pathname, "\(b.size) bytes", s?.status.rawValue ?? "", s?.finishedAt?.iso8601 ?? ""]
                }, indent: "  ")
                print("dry run: nothing was deleted. Run again with --apply to delete them (recorded in the log as a \(blobsPruneKind) job).")
                return
            }
            // Before the deletion: a running projection would otherwise publish them meanwhile, and
            // a prune that fails part way (retried with the same command) leaves none to re-drive.
            if owedCount > 0 {
                let dropped = try await ledger.dropOwedItems(.blob, of: Set(owed.keys))
                print("dropped \(plural(dropped, "upload")) still owed for those jobs: a re-drive will not publish them")
            }
            try await prune(doomed, jobs: jobs, before: before, place: place, store: blobStore, ledger: ledger, what: what)
        }
    }

    /// Deletes through the engine, as jobs of kind `jobledger.blobs.prune` (one per batch of
    /// jobs, each input at most ~40 KB), so the log records what was deleted, when and why.
    private func prune(_ doomed: [BlobInfo], jobs: Set<JobID>, before: Timestamp, place: String, store: any BlobStore,
                       ledger: Ledger, what: String) async throws {
        var o = JobEngine.Options(workerID: "jobledger-blobs-prune-\(getpid())")
        o.concurrency = 1
        o.logger = cliLogger("jobledger.engine")
        o.assetPrune = nil
        let engine = JobEngine(ledger: ledger, options: o)
        let total = doomed.count
        let done = Mutex(0)
        engine.register(kind: blobsPruneKind, retry: RetryPolicy(baseMilliseconds: 1_000, capMilliseconds: 30_000)) { ctx in
            var paths: [String] = []
            if case .array(let items)? = ctx.input["pathnames"] { paths = items.compactMap(\.stringValue) }
            var deleted = 0
            for start in stride(from: 0, to: paths.count, by: 250) {
                let chunk = Array(paths[start..<min(start + 250, paths.count)])
                do throws(SinkError) { try await store.delete(pathnames: chunk) } catch {
                    switch error {
                    case .unavailable(let m, _): throw JobError(code: "store_unavailable", message: m, retryable: true)
                    case .rejected(let m): throw JobError(code: "store_refused", message: m, retryable: false)
                    }
                }
                deleted += chunk.count
                let overall = done.withLock { d in d += chunk.count; return d }
                print("blobs prune: deleted \(overall)/\(total) blobs")
                fflush(nil)
                try await ctx.progress(Double(deleted) / Double(max(1, paths.count)), message: "deleted \(deleted) of \(paths.count) blobs")
            }
            return JobCompletion(output: ["deleted": .int(Int64(deleted)), "bytes": ctx.input["bytes"] ?? .int(0)])
        }
        // Batches of jobs whose pathnames fit comfortably in one event payload.
        let budget = min(40_000, ledger.configuration.maxPayloadBytes / 2)
        var batches: [[(job: JobID, blobs: [BlobInfo])]] = []
        var current: [(job: JobID, blobs: [BlobInfo])] = [], size = 0
        // Every job pruned is recorded, those with nothing in the store (only uploads owed) too.
        var byJob = Dictionary(grouping: doomed) { artefactJob($0.pathname)! }
        for job in jobs where byJob[job] == nil { byJob[job] = [] }
        for job in byJob.keys.sorted() {
            let blobs = byJob[job]!
            let cost = blobs.reduce(job.rawValue.utf8.count + 4) { $0 + $1.pathname.utf8.count + 4 }
            if !current.isEmpty, size + cost > budget { batches.append(current); current = []; size = 0 }
            current.append((job, blobs))
            size += cost
        }
        if !current.isEmpty { batches.append(current) }
        var ids: [JobID] = []
        for batch in batches {
            let blobs = batch.flatMap(\.blobs)
            let input: JSONValue = .object([
                "finished_before": .string(before.iso8601), "reason": .string(reason), "store": .string(place),
                "jobs": .array(batch.map { .string($0.job.rawValue) }), "pathnames": .array(blobs.map { .string($0.pathname) }),
                "bytes": .int(blobs.reduce(0) { $0 + $1.size }),
            ])
            ids.append(try await engine.submit(kind: blobsPruneKind, input: input, maxAttempts: 5))
        }
        print("deleting \(what) from \(place), recorded as \(plural(ids.count, "\(blobsPruneKind) job")) …")
        try await engine.workUntilIdle()
        var results: [JobState?] = []
        for id in ids { results.append(try await ledger.state(of: id)) }
        let failed = results.filter { $0?.status != .completed }
        let deleted = done.withLock { $0 }
        if !failed.isEmpty {
            for s in failed {
                printErr("jobledger: prune job \(s.map { "\($0.id)" } ?? "?") \(s?.status.rawValue ?? "missing"): \(s.flatMap { s in s.lastError?.description(endedJob: s.status == .failed) } ?? "")")
            }
            throw fail("deleted \(deleted) of \(total) blobs; the rest are still there (retry with the same command)", code: 6)
        }
        print("deleted \(what) from \(place); recorded in the log as \(ids.map(\.rawValue).joined(separator: ", ")) (see `jobledger history <id>`)")
    }
}
