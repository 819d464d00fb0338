import ArgumentParser
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite

/// Parses `--until-seq` / `--until` into a replay point (a bad value is a usage error, exit 64).
func replayPoint(untilSeq: Int64?, until: String?) throws -> ReplayPoint {
    switch (untilSeq, until) {
    case (nil, nil): return .end
    case (let s?, nil):
        try OptionRanges.untilSeq.check(s)
        return .seq(s)
    case (nil, let t?):
        return .time(try OptionTime.parse(t, option: "--until"))
    case (_?, _?): throw ValidationError("give --until-seq or --until, not both")
    }
}

extension CommandProgress {
    /// The progress of a replay of the whole log up to `point`: its total is the events that
    /// replay reads, not the whole log's (counted only on a terminal, where a bar is drawn: for
    /// a time, that is a scan).
    convenience init(replaying ledger: Ledger, until point: ReplayPoint, label: String = "replaying") throws {
        let display = CommandProgress.Display.current
        self.init(label, total: display == .terminal ? try ledger.eventsReplayed(until: point) : 0, display: display)
    }
}

func plural<N: BinaryInteger>(_ n: N, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

/// The effect projections `replay` and `state` plan with: the built-in blob and broadcast
/// projections, as `work` registers them (they only plan here; nothing is delivered). With
/// `--blob-store vercel` an artefact the log holds no URL for is shown at the URL the store gives
/// its pathname (known without the network).
func plannedProjections(ledger: Ledger, streamPrefix: String, blobs: BlobStoreChoice? = nil) -> [any EffectProjection] {
    [BlobProjection(store: (blobs ?? BlobStoreChoice(folder: nil, vercel: nil)).store(for: ledger), ledger: ledger),
     BroadcastProjection(sink: BroadcastHub(), streams: StreamNaming(prefix: streamPrefix))]
}

func jobRowLine(_ r: JobRow) -> [String] {
    [r.id.rawValue, r.kind, r.state.rawValue, "\(r.attempt)/\(r.maxAttempts)", "\(Int((r.progress * 100).rounded()))%",
     "v\(r.version)", r.updatedAt.iso8601, r.errorCode.map { "\($0): \(r.errorMessage ?? "")" } ?? ""]
}

let jobRowHeader = ["JOB", "KIND", "STATE", "ATTEMPT", "PROGRESS", "VERSION", "UPDATED", "LAST ERROR"]

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the projections from the log, as of any point; check them against the stored ones; list every effect.",
        discussion: """
            Without flags: the jobs projection rebuilt in memory, printed as a table.
            --projection broadcast|blob prints the messages or uploads instead. --effects lists every upload and \
            broadcast that would be made, in order, with its seq, and sends nothing. --check compares the stored \
            jobs table with one rebuilt up to its checkpoint, and the engine snapshot with the jobs in flight \
            as of its seq, and exits 1 on drift, naming job and field. \
            --into PATH writes the rebuilt jobs and effects into a new SQLite file.
            """)

    @OptionGroup var log: LogOptions
    @Option(help: "Stop after this seq, \(OptionRanges.untilSeq.bounds).") var untilSeq: Int64?
    @Option(help: "Stop at the first event recorded after this time (ISO-8601 UTC, or milliseconds since 1970), \(OptionTime.rangeText).") var until: String?
    @Option(help: "Only this job.") var job: String?
    @Option(help: "The projection to print: the jobs table, or the broadcast's messages or the blob projection's uploads.") var projection: ReplayedProjection = .jobs
    @Option(help: "Write the rebuilt jobs and effects into a new SQLite file here.") var into: String?
    @Flag(help: "Print JSON instead of tables.") var json = false
    @Flag(help: "Compare the stored jobs table with a rebuilt one, and the engine snapshot with the log; exit 1 on drift.") var check = false
    @Flag(help: "List every upload and broadcast the log implies, in order, sending nothing.") var effects = false
    @Option(help: "Broadcast stream names are this prefix plus the job id.") var streamPrefix: String = "job:"
    @OptionGroup var store: BlobStoreOptions

    func validate() throws {
        _ = try replayPoint(untilSeq: untilSeq, until: until)
        try checkStreamPrefix(streamPrefix)
        if let into { try LogOptions.checkNotBlank(into, option: "--into", what: "the path of a new SQLite file, such as replayed.sqlite") }
    }

    func run() async throws {
        try await guarded {
            let proj = ProjectionName(rawValue: projection.rawValue)!
            let id = try job.map { j in try wrap { () throws(InvalidJobID) in try JobID(j) } }
            let point = try replayPoint(untilSeq: untilSeq, until: until)
            let blobs = try store.resolve()  // no network: the store only names URLs here
            // Effects printed as they are planned (--effects, --projection broadcast|blob) go
            // out while the log is read, and cannot be taken back: that replay reads with locks
            // from the start, as export does, so that a writer starting meanwhile cannot make
            // the read fail half way. Every other replay (--check, the jobs table, --into, whose
            // file gets its name only once finished) prints only once it has read everything,
            // and reads again, with locks, when a writer disturbed its read without locks.
            let streams = into == nil && (effects || proj != .jobs)
            let ledger = try streams ? log.openReadOnlyWithLocks() : log.openReadOnly()
            if check {
                guard untilSeq == nil, until == nil, id == nil, into == nil, !effects else {
                    throw fail("--check compares the whole stored table; it takes no --until, --until-seq, --job, --into or --effects", code: 64)
                }
                guard ledger.hasProjections else {
                    throw fail("\(ledger.path) has log schema v\(ledger.schemaVersion), which keeps no jobs table to check (`jobledger project --once` upgrades it and builds the table)", code: 2)
                }
                try log.retryingRead(first: ledger) { ledger in try runCheck(ledger) }
                return
            }
            if let into {
                // Said before the replay, not after it: a scratch file is always a new one.
                if FileManager.default.fileExists(atPath: into) {
                    throw fail("storage error: \(into) already exists; --into writes a new file and never overwrites", code: 6)
                }
                await StagedFileInterrupt.install(for: into)
            }
            let out = BufferedOutput()
            // Effects printed as they are planned stop at a signal on a line boundary, and the
            // locked read's -wal and -shm go with the ledger (ReadInterrupt).
            let interrupt = streams ? await ReadInterrupt.install() : nil
            let printed = PrintedThrough()
            let r: Replayed
            do {
                r = try log.retryingRead(first: ledger) { ledger in
                    try replayOnce(ledger, point: point, job: id, projection: proj, blobs: blobs, out: out, interrupt: interrupt, printed: printed)
                }
            } catch where interrupt?.signal != nil {
                try out.finish()
                throw fail("interrupted (\(interrupt?.signal ?? "signal")): the effects printed stop at seq \(printed.seq ?? 0), each a whole line; the rest were not printed", code: 130)
            }
            try out.finish()
            if let into, let scratch = r.scratch {
                // The jobs and the commit of a large replay take a while (seconds for a million
                // events): said on a terminal, as the replay before it is.
                let progress = CommandProgress("writing", display: r.progressDisplay)
                progress.note("writing \(plural(r.rows.count, "job")) and \(plural(r.effectsWritten, "effect")) to \(into) …")
                defer { progress.finish() }
                do { try scratch.finish(rows: r.rows) } catch LedgerError.storage where FileManager.default.fileExists(atPath: into) {
                    throw fail("storage error: \(into) already exists; --into writes a new file and never overwrites", code: 6)
                }
                if json {
                    print(JSONValue.object(["path": .string(into), "jobs": .int(Int64(r.rows.count)), "effects": .int(Int64(r.effectsWritten)),
                                            "as_of": .string(r.point.description)]).canonicalText)
                } else {
                    print("wrote \(plural(r.rows.count, "job")) and \(plural(r.effectsWritten, "effect")) as of \(r.point) to \(into)")
                }
            } else if !effects && proj == .jobs {
                if json {
                    print(JSONValue.array(r.rows.map(\.json)).canonicalText)
                } else {
                    printTable(header: jobRowHeader, rows: r.rows.map(jobRowLine))
                }
            }
            if !json {
                // A point past the head is the log as it is: said, as `state` says it, so that a
                // mistyped seq is not taken for a moment of the log.
                if case .seq(let n) = r.point, let head = r.head, n > head {
                    printErr("note: seq \(n) is past the log's head (seq \(head)): this is the log as it is now")
                }
                let s = r.summary
                printErr("replayed \(plural(s.events, "event")) (through seq \(s.lastSeq)\(s.lastTime.map { ", recorded \($0.iso8601)" } ?? "")) into \(plural(r.rows.count, "job"))")
            }
        }
    }

    /// What one read of the log gives a replay (without --check): the rebuilt rows, and the
    /// effects, printed to `out` or stored in the scratch file (not finished yet: it is
    /// abandoned, with its staging file, when this read fails and is run again).
    struct Replayed {
        var point: ReplayPoint
        var summary: ReplaySummary
        var rows: [JobRow]
        var head: Int64?
        var scratch: ReplayScratchWriter?
        var effectsWritten: Int
        var progressDisplay: CommandProgress.Display
    }

    /// The seq of the last effect printed (nil: none was), kept across a replay stopped part way.
    final class PrintedThrough {
        var seq: Int64?
    }

    /// `PlannedEffect.line` with each field escaped for a terminal.
    static func terminalSafeLine(_ e: PlannedEffect) -> String {
        ["seq \(e.seq)", e.projection.effectLabel, e.draft.target, e.projection.summary(of: e.draft)].map(terminalSafe).joined(separator: "\t")
    }

    func replayOnce(_ ledger: Ledger, point: ReplayPoint, job id: JobID?, projection proj: ProjectionName, blobs: BlobStoreChoice,
                    out: BufferedOutput, interrupt: ReadInterrupt? = nil, printed: PrintedThrough = PrintedThrough()) throws -> Replayed {
        let head = try ledger.head()?.seq
        var point = point
        if case .end = point, let head { point = .seq(head) }
        let progress = id == nil ? try CommandProgress(replaying: ledger, until: point) : CommandProgress("replaying", display: .off)
        defer { progress.finish() }
        let wantsEffects = effects || proj != .jobs || into != nil
        let planned = plannedProjections(ledger: ledger, streamPrefix: streamPrefix, blobs: blobs)
        var fold = ReplayFold(effects: wantsEffects ? planned : [], receipts: try ledger.receipts(of: planned), showsTargets: true,
                              receiptPlanners: planned)
        // --into stores each effect as it is planned: a million events' effects held in
        // memory until the end took 700 MB.
        let scratch = try into.map { path throws(LedgerError) in try ReplayScratchWriter(path: path) }
        var effectsWritten = 0
        var scratchFailure: LedgerError?
        let summary = try ledger.replay(into: &fold, until: point, job: id, progress: progress.update, stop: { interrupt?.signal != nil }) { e in
            // --projection broadcast|blob shows that projection's effects; --effects alone all
            // of them (with --projection, that projection's: it was ignored).
            guard into != nil || (proj != .jobs ? e.projection.name == proj : effects) else { return }
            if let scratch {
                guard scratchFailure == nil else { return }
                do throws(LedgerError) { try scratch.add(e); effectsWritten += 1 } catch { scratchFailure = error }
                return
            }
            // Each field made safe for a terminal (a message's U+202E went out raw; a tab in it
            // would make a column), the tabs between them kept.
            out.write((json ? e.json.canonicalText : Self.terminalSafeLine(e)) + "\n")
            printed.seq = e.seq
        }
        if let scratchFailure { throw scratchFailure }
        // A job the log has never held (a mistyped id) is said, as `history` and `state` say
        // it, not shown as an empty replay with exit 0.
        if let id, summary.events == 0, try ledger.state(of: id) == nil {
            scratch?.abandon()
            throw fail("no such job \(id) in \(ledger.path)", code: 3)
        }
        let rows = fold.rows.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        return Replayed(point: point, summary: summary, rows: rows, head: head, scratch: scratch, effectsWritten: effectsWritten,
                        progressDisplay: progress.display)
    }

    func runCheck(_ ledger: Ledger) throws {
        let progress = CommandProgress("checking the jobs table", total: Int(try ledger.jobsTableCheckpoint().checkpoint))
        let (checkpoint, stored, rebuilt) = try ledger.jobsTableCheck(progress: progress.update)
        progress.finish()
        var drift: [String] = []
        // A checkpoint past the log's end: the table says it took in events the log no longer
        // has (cut off its end), or the checkpoint was changed. The rebuild stops at the end.
        let head = try ledger.head()?.seq ?? 0
        if checkpoint > head {
            drift.append("the jobs table has taken in events up to seq \(checkpoint), but the log ends at seq \(head): events were cut off the end of the log, or the checkpoint was changed (run verify)")
        }
        var seen = Set<JobID>()
        for row in stored {
            seen.insert(row.id)
            guard let other = rebuilt[row.id] else { drift.append("job \(row.id): stored, but not in the log up to seq \(checkpoint)"); continue }
            for d in row.differences(from: other) {
                drift.append("job \(row.id) field \(d.field): stored \(d.mine.canonicalText), rebuilt \(d.theirs.canonicalText)")
            }
        }
        for id in rebuilt.keys.sorted() where !seen.contains(id) { drift.append("job \(id): in the log, missing from the stored jobs table") }
        // The engine snapshot is derived too, and trusted by every engine that starts from it.
        let folding = CommandProgress("checking the engine snapshot", total: Int(head))
        let snapshotDrift = try EngineSnapshotAudit.differences(ledger) { folding.update(Int($0)) }
        folding.finish()
        drift += snapshotDrift
        // The table is compared up to its checkpoint; events after it are not in it yet, which
        // is no drift, but "ok" alone read as a pass for a table that never ran.
        let behind = max(0, head - checkpoint)
        if json {
            print(JSONValue.object(["ok": .bool(drift.isEmpty), "jobs": .int(Int64(stored.count)), "checkpoint": .int(checkpoint),
                                    "head": .int(head), "not_taken_in": .int(behind),
                                    "differences": .array(drift.map { .string($0) })]
                                    .merging(snapshotDrift.isEmpty ? [:] : ["engine_snapshot_remedy": .string(EngineSnapshotAudit.remedy)]) { a, _ in a }).canonicalText)
            if drift.isEmpty { return }
            throw ExitCode(1)
        }
        if drift.isEmpty {
            var line = "ok: the stored jobs table (\(plural(stored.count, "job")), checkpoint seq \(checkpoint)) equals the one rebuilt from the log"
            if behind > 0 {
                line += " up to seq \(checkpoint); it has not taken in the \(plural(Int(behind), "event")) after it yet (the log goes on to seq \(head)): "
                    + "`jobledger project --once` catches it up, then check again"
            }
            print(line)
            return
        }
        for d in drift { print("drift: " + terminalSafe("\(d)")) }
        if !snapshotDrift.isEmpty { print("fix: " + EngineSnapshotAudit.remedy) }
        print("FAILED: \(drift.count) difference\(drift.count == 1 ? "" : "s") between the stored jobs table or engine snapshot and the log (checkpoint seq \(checkpoint))")
        throw ExitCode(1)
    }
}

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two replays: two log files, or two points in one log (each job's row and its events' payloads). Exits 1 when they differ.",
        discussion: "Each side is PATH (a whole log), PATH@POINT, or @POINT (a point in --db's log); POINT is a seq or an ISO-8601 UTC time.")

    @OptionGroup var log: LogOptions
    @Argument(help: "The left side.") var left: String
    @Argument(help: "The right side.") var right: String
    @Flag(help: "Print JSON.") var json = false

    func side(_ text: String) throws -> (path: String, point: ReplayPoint) {
        // A file by that name is that file, at its end, though its path holds an @
        // (`at@dir/log.sqlite`); else the last @ begins the point.
        if FileManager.default.fileExists(atPath: text) { return (text, .end) }
        guard let at = text.lastIndex(of: "@") else { return (text, .end) }
        let path = text[..<at].isEmpty ? log.path : String(text[..<at])
        guard let p = OptionTime.point(String(text[text.index(after: at)...])) else {
            throw fail("'\(OptionTime.shown(text))': after @ comes \(OptionTime.pointForm)", code: 2)
        }
        return (path, p)
    }

    /// A side's rebuilt rows, and its events' payload digests (which hold what the rows do not:
    /// inputs, outputs, error details of earlier attempts).
    /// Read again from the start, with locks, when a writer disturbed a read without locks:
    /// nothing is printed before both sides are read.
    func rows(_ side: (path: String, point: ReplayPoint), _ which: String) throws -> (rows: [JobID: JobRow], events: JobEventDigests) {
        do { return try rowsReading(side) } catch LedgerError.noSuchLog(let path) where !sideIsDB(which) {
            // The path came from the argument, not from --db: say so, not "check --db".
            throw fail("no JobLedger log at \(path) (the \(which) side, '\(OptionTime.shown(which == "left" ? left : right))')", code: 4)
        }
    }

    /// Whether the side `which` is a point in the --db log (`@POINT`).
    private func sideIsDB(_ which: String) -> Bool { (which == "left" ? left : right).hasPrefix("@") }

    private func rowsReading(_ side: (path: String, point: ReplayPoint)) throws -> (rows: [JobID: JobRow], events: JobEventDigests) {
        try log.retryingRead(path: side.path) { ledger in
            // Artefacts are compared by their deterministic pathnames, not the URLs a store gave
            // them: an exported copy (which carries no URLs) replays equal to its original.
            var fold = ReplayFold(showsTargets: true)
            var events = JobEventDigests()
            // A seq past the head is the log as it is now: said, as `replay` and `state` say it,
            // so that a mistyped seq is not taken for a moment of the log.
            if case .seq(let n) = side.point, let head = try ledger.head()?.seq, n > head {
                printErr("note: seq \(n) is past the head of \(side.path) (seq \(head)): that side is the log as it is now")
            }
            let progress = try CommandProgress(replaying: ledger, until: side.point, label: "replaying \(side.path)")
            defer { progress.finish() }
            _ = try ledger.replayEvents(until: side.point, progress: progress.update) { e in
                _ = try fold.apply(e)
                events.add(e)
            }
            return (fold.rows, events)
        }
    }

    func run() async throws {
        try await guarded {
            let l = try side(left), r = try side(right)
            let (a, aEvents) = try rows(l, "left"), (b, bEvents) = try rows(r, "right")
            var lines: [String] = []
            var entries: [JSONValue] = []
            for id in Set(a.keys).union(b.keys).sorted() {
                switch (a[id], b[id]) {
                case (let x?, nil):
                    lines.append("- \(id) only on the left (\(x.state), v\(x.version))")
                    entries.append(.object(["job": .string(id.rawValue), "only": "left"]))
                case (nil, let y?):
                    lines.append("+ \(id) only on the right (\(y.state), v\(y.version))")
                    entries.append(.object(["job": .string(id.rawValue), "only": "right"]))
                case (let x?, let y?):
                    let d = x.differences(from: y)
                    let events = aEvents.firstDifference(of: id, from: bEvents)
                    if d.isEmpty && events == nil { continue }
                    lines.append("~ \(id)")
                    for f in d { lines.append("    \(f.field): \(f.mine.canonicalText) → \(f.theirs.canonicalText)") }
                    if let events { lines.append("    events: \(events.text)") }
                    var entry: [String: JSONValue] = ["job": .string(id.rawValue),
                                                      "fields": .object(Dictionary(uniqueKeysWithValues: d.map { ($0.field, .array([$0.mine, $0.theirs])) }))]
                    if let events { entry["events"] = events.json }
                    entries.append(.object(entry))
                case (nil, nil): break
                }
            }
            if json {
                print(JSONValue.array(entries).canonicalText)
            } else {
                print("left: \(l.path) as of \(l.point) (\(plural(a.count, "job"))) · right: \(r.path) as of \(r.point) (\(plural(b.count, "job")))")
                for line in lines { print(terminalSafe(line)) }
                print(entries.isEmpty ? "no differences" : "\(plural(entries.count, "job")) \(entries.count == 1 ? "differs" : "differ")")
            }
            if !entries.isEmpty { throw ExitCode(1) }
        }
    }
}
