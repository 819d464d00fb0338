import ArgumentParser
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One job's timeline: each event, when, how long after the previous one, and what changed.")

    @OptionGroup var log: LogOptions
    @Argument(help: "The job id.") var job: String
    @Flag(help: "Print a JSON array of events instead.") var json = false

    func run() async throws {
        try await guarded {
            let id = try wrap { () throws(InvalidJobID) in try JobID(job) }
            // Read again from the start when a writer disturbed a read without locks.
            let (ledger, state, lines, entries) = try log.retryingRead { ledger in
                var state: JobState?
                var previous: Timestamp?
                var lines: [[String]] = []
                var entries: [JSONValue] = []
                try ledger.forEachEvent(of: id) { e in
                    let before = state
                    let after = try Lifecycle.apply(e.payload, to: before, job: id, at: e.recordedAt)
                    state = after
                    let delta = previous.map { e.recordedAt.milliseconds - $0.milliseconds }
                    previous = e.recordedAt
                    let change = Change.describe(before: before, after: after, payload: e.payload)
                    if json {
                        entries.append(.object([
                            "seq": .int(e.seq), "version": .int(Int64(e.version)), "type": .string(e.type.rawValue),
                            "recorded_at": .string(e.recordedAt.iso8601), "since_previous_ms": delta.map { .int($0) } ?? .null,
                            "state": .string(after.status.rawValue), "payload": e.payload.json, "change": .string(change),
                        ]))
                    } else {
                        lines.append(["v\(e.version)", "seq \(e.seq)", e.recordedAt.iso8601, delta.map(formatDelta) ?? "", e.type.rawValue, change])
                    }
                }
                return (ledger, state, lines, entries)
            }
            guard let final = state else {
                throw fail("no such job \(id) in \(ledger.path)", code: 3)
            }
            if json {
                print(JSONValue.array(entries).canonicalText)
            } else {
                print("job \(id) · kind \(terminalSafe(final.kind)) · \(final.status) · \(plural(final.version, "event"))")
                printTable(header: nil, rows: lines, indent: "  ")
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every hash link, every job's version sequence and every transition.",
        discussion: "Exits 0 when the log is intact (and reaches --expect-head with the same hash); otherwise exits 1 and names the first bad seq. Warns (on stderr, or in --json) of payloads not stored in canonical form and of recorded times that go backwards: neither is a failure.")

    @OptionGroup var log: LogOptions
    @Option(help: "A head printed earlier by `jobledger digest`, as SEQ:HASH.") var expectHead: String?
    @Flag(help: "Print the report as one JSON object (warnings included) instead of text.") var json = false

    func run() async throws {
        try await guarded {
            var expected: ChainHead?
            if let expectHead {
                guard let h = ChainHead(expectHead) else { throw fail("--expect-head must be SEQ:HASH (a number, a colon, 64 hex digits)", code: 2) }
                expected = h
            }
            let report = try log.retryingRead { ledger in try Self.verifiedWithProgress(ledger, expectHead: expected) }
            if json {
                print(verifyJSON(report).canonicalText)
                if !report.isValid { throw ExitCode(1) }
                return
            }
            if !report.removedRules.isEmpty {
                print(removedRulesLine(report))
            }
            if let p = report.problem {
                print("FAILED at seq \(p.seq): \(terminalSafe(p.message))")
            }
            if let damage = report.damage { print("and the file is damaged: \(terminalSafe(damage))") }
            if report.problem != nil { throw ExitCode(1) }
            print((report.removedRules.isEmpty ? "" : "the events themselves: ") + verifySummary(report, expected: expected))
            if !report.rules.isEmpty {
                print("hash rules\(report.rulesInferred ? " (inferred from the rows)" : ""): " + report.rules.map(\.description).joined(separator: "; "))
            }
            if report.nonCanonicalCount > 0 {
                let listed = report.nonCanonical.map(String.init).joined(separator: ", ") + (report.nonCanonicalCount > report.nonCanonical.count ? ", …" : "")
                printErr("jobledger: warning: \(plural(report.nonCanonicalCount, "payload")) not stored as jobledger writes them (canonical JSON), at seq \(listed): "
                         + "intact by their digests, but an export of this log would not import (written by another program?)")
            }
            if let first = report.timeBackwardsFirst {
                let n = report.timeBackwardsCount
                let which = n == 1 ? "1 event recorded earlier than the event before it, at seq \(first)" : "\(n) events recorded earlier than the event before them, the first at seq \(first)"
                printErr("jobledger: warning: \(which): "
                         + "the writer's clock stepped back; the log is intact (its order is its seq), but times around those events read out of order")
            }
            if !report.removedRules.isEmpty { throw ExitCode(1) }
        }
    }
}

extension Verify {
    /// `ledger.verify`, with its progress on stderr (the total is the head's seq: one read).
    static func verifiedWithProgress(_ ledger: Ledger, expectHead: ChainHead? = nil) throws -> VerifyReport {
        let progress = CommandProgress("verifying", total: Int(try ledger.head()?.seq ?? 0))
        defer { progress.finish() }
        return try ledger.verify(expectHead: expectHead) { seq in progress.update(Int(seq)) }
    }

    /// `verifiedWithProgress`, stopped once `interrupt` has a signal (nil then). A verification
    /// that ran to its end before the signal came is kept: only one the signal cut short is not.
    static func verifiedWithProgress(_ ledger: Ledger, until interrupt: ReadInterrupt) throws -> VerifyReport? {
        let progress = CommandProgress("verifying", total: Int(try ledger.head()?.seq ?? 0))
        defer { progress.finish() }
        var stopped = false
        var report = try ledger.verify(continuing: nil, progress: { seq in progress.update(Int(seq)) }, stop: {
            stopped = stopped || interrupt.signal != nil
            return stopped
        }).report
        if stopped { return nil }
        // Then SQLite's check of the file, as `ledger.verify()` makes it.
        do { try ledger.checkFileStructure() } catch {
            guard case .storage(let damage) = error, !report.isValid else { throw error }
            report.damage = damage
        }
        return report
    }
}

/// `verify --json`: what the text says, warnings included. `verified_through` is the last
/// event that checked out; `head` is the same once the whole log checked out, and null when it
/// did not (the scan stopped at the problem, so the log's head was not reached, and no head of
/// a log that fails is one to keep). An empty log that checks out has the head `digest` prints
/// for it, and the text says: seq 0 and the genesis hash (it was null, as for a log that failed).
///
/// ```json
/// {"damage":null,"events":26,"head":"26:7caf…","jobs":3,"non_canonical":{"count":0,"seqs":[]},"ok":true,"problem":null,
///  "rules":[{"from":1,"rule":"jobledger/v1","through":26}],"time_backwards":{"count":0,"first_seq":null},"verified_through":"26:7caf…"}
/// ```
func verifyJSON(_ report: VerifyReport) -> JSONValue {
    let through: JSONValue = report.head.map { .string($0.description) }
        ?? (report.problem == nil ? .string("0:\(HashChain.genesis)") : .null)
    return .object([
        "ok": .bool(report.isValid), "events": .int(report.events), "jobs": .int(Int64(report.jobs)),
        "head": report.isValid ? through : .null, "verified_through": through,
        "problem": report.problem.map { .object(["seq": .int($0.seq), "message": .string($0.message)]) } ?? .null,
        "damage": report.damage.map { .string($0) } ?? .null,
        "removed_rules": .array(report.removedRules.map { .string($0) }), "rules_inferred": .bool(report.rulesInferred),
        "rules": .array(report.rules.map { .object(["rule": .string($0.rule.rawValue), "from": .int($0.from), "through": .int($0.through)]) }),
        "non_canonical": .object(["count": .int(Int64(report.nonCanonicalCount)), "seqs": .array(report.nonCanonical.map { .int($0) })]),
        "time_backwards": .object(["count": .int(Int64(report.timeBackwardsCount)), "first_seq": report.timeBackwardsFirst.map { .int($0) } ?? .null]),
    ])
}

/// `verify`'s line for rules dropped from the file: what is gone, and what that means.
func removedRulesLine(_ report: VerifyReport) -> String {
    var s = "FAILED: the log's integrity rules were removed behind its back: " + report.removedRules.joined(separator: ", ")
    if report.removedRules.contains(where: { $0.hasPrefix("trigger events_no_") }) {
        s += "; the database no longer refuses changes to recorded events (only the hash chain shows them)"
    }
    if report.rulesInferred {
        s += "; which hash rule covers which seqs is no longer recorded, and was inferred from the rows"
    }
    return s + " (restore the log from a backup or an export)"
}

func verifySummary(_ report: VerifyReport, expected: ChainHead?) -> String {
    var s = "ok: \(plural(report.events, "event")), \(plural(report.jobs, "job")); every payload digest, hash link, version and transition is valid"
    if let e = expected { s += "; head \(e.seq) matches" }
    s += "; head \(report.head?.description ?? "0:\(HashChain.genesis)")"
    return s
}

struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest", abstract: "Print the log's head as SEQ:HASH, to keep somewhere else.",
        discussion: "The log is verified first, as `jobledger verify` does: a log that does not verify gets no head (exit 1, the first bad seq on stderr).")

    @OptionGroup var log: LogOptions

    func run() async throws {
        try await guarded {
            let ledger = try log.openReadOnly()
            let (head, lostEnd, report) = try log.retryingRead(first: ledger) { ledger in
                let (head, lostEnd) = try ledger.headAndLostEnd()
                return (head, lostEnd, lostEnd == nil ? try Verify.verifiedWithProgress(ledger) : nil)
            }
            // A head printed here is one to keep and check later: the head of a log cut short,
            // kept, would make `verify --expect-head` vouch for the cut log from then on; the
            // head of a log whose chain is broken (an event changed, deleted) would vouch for
            // the changed log.
            if let lost = lostEnd {
                throw fail("\(ledger.path) has lost events: the log ends at seq \(head?.seq ?? 0), but \(lost.witness) has taken in events up to seq \(lost.seq) "
                           + "(events were cut off the end); its head is not one to keep, so none was printed (run jobledger verify)", code: 1)
            }
            guard let report else { return }
            if let p = report.problem {
                throw fail("\(ledger.path) does not verify: FAILED at seq \(p.seq): \(terminalSafe(p.message)); "
                           + "its head is not one to keep, so none was printed (run jobledger verify)", code: 1)
            }
            if !report.removedRules.isEmpty {
                throw fail("\(ledger.path) does not verify: \(removedRulesLine(report)); its head is not one to keep, so none was printed (run jobledger verify)", code: 1)
            }
            print(report.head?.description ?? "0:\(HashChain.genesis)")
        }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the whole log to stdout, one event per line (NDJSON).",
        discussion: "Every event is written as stored; then the log is verified, and when it does not verify the command exits 1 naming the first bad seq: jobledger import would refuse such an export.")

    @OptionGroup var log: LogOptions
    @Option(help: "The output format.") var format: ExportFormat = .ndjson
    @Option(help: "Write to this new file instead of stdout: it gets its name only once every event is in it (an interrupted export leaves nothing there), and an existing file is refused.") var output: String?

    func validate() throws {
        if let output { try LogOptions.checkNotBlank(output, option: "--output", what: "the path of a new file, such as backup.ndjson") }
    }

    func run() async throws {
        if let output { return try await runToFile(output) }
        try await guarded {
            // Lines written cannot be taken back, so the export is not read again after a
            // writer wrote the file under a read without locks: it is read with locks.
            let ledger = try log.openReadOnlyWithLocks()
            let interrupt = await ReadInterrupt.install()
            let out = BufferedOutput()
            let progress = CommandProgress("exporting", total: Int(try ledger.head()?.seq ?? 0))
            var events = 0
            var stopped: ReadInterrupt.Stopped?
            switch format {
            case .ndjson:
                do {
                    try ledger.exportNDJSON { line in
                        guard out.isOpen else { throw CancellationError() }
                        try interrupt.check()
                        out.write(line + "\n")
                        events += 1
                        progress.update(events)
                    }
                } catch where interrupt.signal != nil {
                    // `Stopped`, as the log hands it back (wrapped as a storage error).
                    stopped = ReadInterrupt.Stopped(signal: interrupt.signal!)
                } catch where !out.isOpen {
                    // Stopped early: the reader has gone (`| head`), or a write failed, which
                    // `finish()` reports. The rest of the log is not read for nothing.
                }
            }
            progress.finish()
            try out.finish()
            if let stopped {
                throw fail("interrupted (\(stopped.signal)): the export holds the first \(plural(events, "event")), each a whole line (it imports as a smaller log); it is not the whole log", code: 130)
            }
            if out.isOpen {
                guard let report = try Verify.verifiedWithProgress(ledger, until: interrupt) else {
                    throw fail("interrupted (\(interrupt.signal ?? "signal")) while the log was verified: the export holds every event; whether the log verifies was not checked (run jobledger verify)", code: 130)
                }
                try Self.verified(report)
            }
        }
    }

    /// A log that does not verify exports as stored (evidence), but its export would not
    /// import: said now, by the exit code too (1), rather than when a restore needs it.
    /// So are events an import would refuse though the log verifies: payloads stored in
    /// another form than jobledger writes (by another program), and times outside what an
    /// export carries; and a log whose integrity rules were removed, which `verify` fails.
    static func verified(_ ledger: Ledger) throws { try verified(try Verify.verifiedWithProgress(ledger)) }

    /// `verified(_:)` of a report already made.
    static func verified(_ report: VerifyReport) throws {
        let asStored = "the export holds every event as stored"
        if let p = report.problem {
            throw fail("the log does not verify at seq \(p.seq): \(terminalSafe(p.message)); \(asStored) (run jobledger verify)", code: 1)
        }
        if !report.removedRules.isEmpty {
            throw fail("the log does not verify: \(removedRulesLine(report)); \(asStored), and its events check out, so it imports (run jobledger verify)", code: 1)
        }
        if let first = report.nonCanonical.first {
            throw fail("\(plural(report.nonCanonicalCount, "payload")) of the log \(report.nonCanonicalCount == 1 ? "is" : "are") not stored as jobledger writes them (canonical JSON), the first at seq \(first) "
                       + "(written by another program?): jobledger import would refuse this export at that event; \(asStored) (run jobledger verify)", code: 1)
        }
        if let seq = report.unrecordableTimeFirst {
            throw fail("the event at seq \(seq) was recorded at a time outside \(Timestamp.recordableText) (written by another program?): "
                       + "jobledger import would refuse this export at that event; \(asStored)", code: 1)
        }
    }

    /// `--output PATH`: the lines go to a file beside PATH under a staging name, which becomes
    /// PATH (by a hard link, which never replaces a file) once the last event is written. A
    /// stdout export cut short by a signal ends on a line boundary, and imports as a smaller,
    /// valid log: only its exit status tells, which a copied file loses.
    func runToFile(_ path: String) async throws {
        try await guarded {
            let ledger = try log.openReadOnlyWithLocks()
            // A signal stops the export before its next line: the staging file is removed and
            // the ledger released (the locked read's -wal and -shm with it), which an exit from
            // the signal's own task left beside the log. A second one stops at once.
            let staged = StagedFile.stagingPath(for: path)
            // (PATH exists only once published: an existing one is refused before anything is written.)
            let interrupt = await ReadInterrupt.install(atOnce: {
                FileManager.default.fileExists(atPath: path) ? "\(path) was written before the signal came; whether the log verifies was not checked"
                    : "nothing was written to \(path); run the command again"
            }, cleanup: { unlink(staged) })
            let why = "--output writes a new file and never overwrites"
            let staging = try StagedFile.begin(path, why: why)
            guard let file = FileHandle(forWritingAtPath: staging) else {
                unlink(staging)
                throw fail("cannot write \(path): \(String(cString: strerror(errno)))", code: 6)
            }
            var buffer: [UInt8] = []
            var events = 0
            let progress = CommandProgress("exporting", total: Int(try ledger.head()?.seq ?? 0))
            defer { progress.finish() }
            do {
                try ledger.exportNDJSON { line in
                    try interrupt.check()
                    buffer.append(contentsOf: line.utf8)
                    buffer.append(UInt8(ascii: "\n"))
                    events += 1
                    progress.update(events)
                    if buffer.count >= 1 << 20 { try file.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
                }
                try file.write(contentsOf: buffer)
                try file.synchronize()
                try file.close()
                try interrupt.check()
            } catch where interrupt.signal != nil {
                try? file.close(); unlink(staging)
                throw fail("interrupted: nothing was written to \(path); run the command again", code: 130)
            } catch let e as LedgerError {
                try? file.close(); unlink(staging)
                throw e
            } catch {
                try? file.close(); unlink(staging)
                throw fail("cannot write \(path): \(SystemReason.describing(error)); nothing was left there", code: 6)
            }
            try StagedFile.publish(staging, as: path, why: why)
            progress.finish()
            printErr("exported \(plural(events, "event")) to \(path)")
            guard let report = try Verify.verifiedWithProgress(ledger, until: interrupt) else {
                throw fail("interrupted: \(path) was written before the signal came; whether the log verifies was not checked (run jobledger verify)", code: 130)
            }
            try Self.verified(report)
        }
    }
}

// MARK: - Output helpers

func formatDelta(_ ms: Int64) -> String {
    // Back in time (a writer's clock that stepped back): "-1.0s", not "+-1000ms".
    if ms < 0 { return "-" + formatDelta(ms == .min ? .max : -ms).dropFirst() }
    if ms < 1000 { return "+\(ms)ms" }
    if ms < 60_000 { return "+\(String(format: "%.1f", Double(ms) / 1000))s" }
    if ms < 3_600_000 { return "+\(ms / 60_000)m\((ms / 1000) % 60)s" }
    return "+\(ms / 3_600_000)h\((ms / 60_000) % 60)m"
}

/// Collects output and writes it in large chunks (export of millions of lines).
final class BufferedOutput {
    let descriptor: Int32
    var buffer = ""
    /// How the last write went: once the reader has gone or a write failed, nothing more is
    /// written (the command may stop early, and `finish()` says what happened).
    private(set) var state = OutputWrite.written
    init(descriptor: Int32 = STDOUT_FILENO) { self.descriptor = descriptor; buffer.reserveCapacity(1 << 16) }
    /// Whether writing should go on (the reader is there and nothing failed).
    var isOpen: Bool { state == .written }
    func write(_ s: String) {
        guard isOpen else { return }
        buffer += s
        if buffer.utf8.count >= 1 << 16 { flush() }
    }
    func flush() {
        if isOpen { state = writeOutput(buffer, to: descriptor) }
        buffer.removeAll(keepingCapacity: true)
    }
    /// Writes what is left; a failed write (not a reader that has gone) is an error that names
    /// it, exit 6: a backup cut short must not look like a finished one.
    func finish() throws {
        flush()
        if case .failed(let code) = state {
            throw fail("could not write the output: \(String(cString: strerror(code))); what was written is incomplete", code: 6)
        }
    }
}

extension JobState {
    /// The state as JSON, for `jobs --json` and scripts.
    var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id.rawValue), "kind": .string(kind), "state": .string(status.rawValue),
            "version": .int(Int64(version)), "attempt": .int(Int64(attempt)), "max_attempts": .int(Int64(maxAttempts)),
            "priority": .int(Int64(priority)), "progress": .double(progress), "input": input,
            "run_at": .string(runAt.iso8601), "created_at": .string(createdAt.iso8601), "updated_at": .string(updatedAt.iso8601),
        ]
        if let m = progressMessage { o["message"] = .string(m) }
        if let w = worker { o["worker"] = .string(w) }
        if let p = preview { o["preview_sha256"] = .string(p.sha256) }
        if let r = result { o["result_sha256"] = .string(r.sha256) }
        if let out = output { o["output"] = out }
        if let e = lastError {
            o["error"] = .object(["code": .string(e.code), "message": .string(e.message), "retryable": .bool(e.retryable), "attempt": .int(Int64(e.attempt))])
        }
        if let r = cancelReason { o["cancel_reason"] = .string(r) }
        if let s = startedAt { o["started_at"] = .string(s.iso8601) }
        if let f = finishedAt { o["finished_at"] = .string(f.iso8601) }
        return .object(o)
    }
}
