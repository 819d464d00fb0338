import Foundation
import GRDB
import JobLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checks of an import line that need no log: JSON, fields, payload, and the file's own
/// hash chain from line to line. Both passes of an import run it.
struct ImportLineChecker {
    private(set) var events = 0
    /// The hash of the last line that carried one.
    private var fileChain: String?
    /// The rule of the last line that carried a hash: rules only move forward through a file.
    private var lastRule: HashChain.Rule?
    /// Lines from the first on that were hashed under `HashChain.Rule.v1` (before any other).
    private(set) var leadingV1 = 0
    /// The `seq` of the last line that carried a hash: an export numbers its lines without gaps.
    private var lastSeq: Int64?

    /// True once a line carried the hash chain (then every line does).
    var isChained: Bool { fileChain != nil }

    /// The line's event, prepared for appending, and its chain fields; nil for a blank line.
    mutating func check(_ line: String, number lineNumber: Int) throws(LedgerError) -> (PreparedEvent, Ledger.ImportCheck?)? {
        if line.allSatisfy(\.isWhitespace) { return nil }
        let (event, parsed) = try Ledger.parseImportLine(line, number: lineNumber)
        var check = parsed
        if check == nil, fileChain != nil {
            throw LedgerError.importFailed(line: lineNumber, reason: "the lines before carry payload_digest, prev_hash and hash, this one does not: the export was edited")
        }
        if let check, fileChain == nil {
            // The chain of an export starts at its first line, at seq 1.
            guard events == 0 else {
                throw LedgerError.importFailed(line: lineNumber, reason: "this line carries payload_digest, prev_hash and hash, the lines before do not: the export was edited")
            }
            guard check.seq == 1, check.prevHash == HashChain.genesis else {
                throw LedgerError.importFailed(line: lineNumber, reason: "an export starts at seq 1 with prev_hash \(HashChain.genesis.prefix(8))…; this one starts at seq \(check.seq): lines were cut from its start")
            }
        }
        if var c = check {
            if let prev = fileChain, prev != c.prevHash {
                throw LedgerError.importFailed(line: lineNumber, reason: "prev_hash does not match the previous line's hash: lines were removed, reordered or edited")
            }
            func matches(_ rule: HashChain.Rule) -> Bool {
                let canonical = HashChain.canonical(rule: rule, seq: c.seq, job: event.job, version: c.version, type: event.payload.type,
                                                    recordedAt: event.recordedAt!, payloadDigest: c.digest, idempotencyKey: event.idempotencyKey)
                return Digest.chain(prevHash: c.prevHash, canonical: canonical) == c.hash
            }
            // A line names its rule when it is not the current one; exports written before
            // rules were named carry none and were all hashed under v1.
            let rule: HashChain.Rule
            if let named = c.rule {
                rule = named
            } else if !matches(.current) && matches(.v1) {
                rule = .v1
            } else {
                rule = .current
            }
            if !matches(rule) {
                let fields = rule == .v1 ? "job, version, type or time" : "job, version, type, time or idempotency key"
                throw LedgerError.importFailed(line: lineNumber, reason: "hash does not match the line's \(fields) under \(rule): the export was edited")
            }
            if let last = lastRule, rule == .v1, last != .v1 {
                throw LedgerError.importFailed(line: lineNumber, reason: "this line is hashed under \(rule) after a line under \(last): hash rules only move forward, the export was edited")
            }
            // `verify` fails a log whose seqs skip; an export of one is refused the same way.
            // Checked once the chain holds: lines removed or edited are named as such above, and
            // only a file renumbered and hashed again gets here.
            if let last = lastSeq, c.seq != last + 1 {
                throw LedgerError.importFailed(line: lineNumber, reason: "seq \(c.seq) follows seq \(last): an export numbers its events 1, 2, 3 … without gaps or repeats, so it was renumbered (and its chain hashed again)")
            }
            if rule == .v1 { leadingV1 += 1 }
            lastRule = rule
            c.rule = rule
            check = c
            fileChain = c.hash
            lastSeq = c.seq
        }
        let prepared: PreparedEvent
        // Events recorded before fencing name no claim; the lifecycle still checks them.
        do { prepared = try PreparedEvent(event, requireClaim: false) } catch { throw .importFailed(line: lineNumber, reason: error.description) }
        events += 1
        return (prepared, check)
    }
}

extension Ledger {
    /// Appends the events of an NDJSON export in one transaction, re-validating every
    /// transition. All or nothing: a bad line anywhere appends nothing and is named by number.
    /// Original times and idempotency keys are kept; `seq` and the hash chain are those of this
    /// log. Into an empty log, an untouched export reproduces the same hashes: lines hashed
    /// under an older rule keep it (the log records from which seq on the current rule applies).
    /// When lines carry `payload_digest`, `prev_hash` and `hash`, the file's own chain is
    /// checked too, so an edited export is refused.
    ///
    /// ```swift
    /// let copy = try Ledger.open(path: "copy.sqlite")
    /// let report = try copy.importNDJSON(exportText.split(separator: "\n").map(String.init))
    /// print(report.events, report.head as Any)
    /// ```
    public func importNDJSON<S: Sequence>(_ lines: S) throws(LedgerError) -> ImportReport where S.Element == String {
        try importNDJSON(try CheckedImport.check(lines: lines))
    }

    /// `importNDJSON` of what the handle holds from its offset on: read and checked to its end
    /// before the write lock is taken (see `CheckedImport`).
    public func importNDJSON(from handle: FileHandle, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws(LedgerError) -> ImportReport {
        try importNDJSON(try CheckedImport.check(handle: handle, maxLineBytes: maxLineBytes))
    }

    /// The second pass of an import: takes the write lock, reads the checked input again (from
    /// memory or a local file, never from a pipe), checks every line again and appends it,
    /// validating it against the log, in one transaction.
    ///
    /// `stop` is asked before each line and once more before the commit: when it answers true
    /// (the user pressed Ctrl-C), the transaction is rolled back and the import fails with
    /// `LedgerError.importFailed` naming the line it stopped at; nothing was imported.
    ///
    /// The imported seqs are recorded (`ImportedRanges`, schema v9 on). `startingAfter` names
    /// projections that begin after the imported events, in the same transaction: their
    /// checkpoints move to the new head when they had reached the head the import began at (a
    /// projection still behind is left alone: its own events come first). For the blob
    /// projection (`jobledger import` passes it): an export carries no asset bytes, so the
    /// imported history's artefacts cannot be uploaded from the new log (they are where the log
    /// they came from published them), and taken in they became dead letters that no re-drive
    /// could clear, owed for good (exit 7 from every later `work --until-idle`). A blob
    /// projection still behind skips them by the record
    /// (`EffectProjection.skipsImportedEvents`).
    public func importNDJSON(_ checked: CheckedImport, startingAfter: [ProjectionName] = [],
                             stop: () -> Bool = { false }) throws(LedgerError) -> ImportReport {
        guard !isReadOnly else { throw .readOnly(path: path) }
        var report = ImportReport()
        var jobs = Set<JobID>()
        gate.enterBlocking()
        defer { gate.leave() }
        guard use.enter() else { throw .closed(path: path) }
        defer { use.leave() }
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    var head = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
                    let start = head.seq
                    // Into an empty log, lines hashed under an older rule keep it, so that the
                    // export's head is reproduced; into a log with events, everything imported
                    // is chained under the current rule after them.
                    let keepRules = head.seq == 0 && checked.leadingV1 > 0
                    if keepRules {
                        try db.execute(sql: "UPDATE chain_rules SET from_seq = ? WHERE rule = ?",
                                       arguments: [checked.leadingV1 + 1, HashChain.Rule.v2.rawValue])
                    }
                    var touched = BatchStates()
                    var checker = ImportLineChecker()
                    var lines = 0
                    func stopped(at line: Int) -> LedgerError {
                        .importFailed(line: line, reason: "the import was interrupted before it was committed; nothing was imported")
                    }
                    try checked.forEachLine { line, lineNumber in
                        if stop() { throw stopped(at: lineNumber) }
                        lines = lineNumber
                        guard let (prepared, check) = try checker.check(line, number: lineNumber) else { return }
                        // The same export imported again: said as such, not as the rule its first
                        // line breaks ("cannot apply 'queued' to a completed job") or as its taken key.
                        func refuseIfImportedBefore() throws {
                            guard let check, let seq = try Ledger.seq(db, holding: prepared.event.job, version: check.version, digest: check.digest) else { return }
                            throw Ledger.importedBefore(prepared.event.job, version: check.version, seq: seq, line: lineNumber)
                        }
                        let stored: [StoredEvent]
                        let before = head.seq
                        do {
                            let rule: HashChain.Rule? = keepRules && head.seq < Int64(checked.leadingV1) ? .v1 : nil
                            stored = try appendRequest([prepared], db: db, head: &head, jobs: &touched, rule: rule)
                        } catch let e as LedgerError {
                            try refuseIfImportedBefore()
                            if case .concurrencyConflict(let job, let expected, let actual) = e {
                                throw LedgerError.importFailed(line: lineNumber, reason: "job \(job) would get version \(actual + 1) here, the line says \(expected + 1) (the job already has events in this log?)")
                            }
                            throw LedgerError.importFailed(line: lineNumber, reason: e.description)
                        }
                        // An append whose idempotency key is taken returns the event that took
                        // it and writes nothing: for an import that would be a line dropped
                        // while counted as imported.
                        if head.seq == before, let key = prepared.event.idempotencyKey {
                            try refuseIfImportedBefore()
                            let holder = stored[0].seq > start ? "an earlier line of this import (job \(stored[0].job))" : "job \(stored[0].job) at seq \(stored[0].seq) of this log"
                            throw LedgerError.importFailed(line: lineNumber, reason: "its idempotency key '\(key)' is already used by \(holder) (an append with a taken key writes nothing, and an import never drops a line)")
                        }
                        if let check, stored[0].version != check.version {
                            throw LedgerError.importFailed(line: lineNumber, reason: "job \(prepared.event.job) would get version \(stored[0].version) here, the line says \(check.version) (the job already has events in this log?)")
                        }
                        if report.firstSeq == nil { report.firstSeq = stored[0].seq }
                        report.events += 1
                        jobs.insert(prepared.event.job)
                        // A job that completed or was canceled takes no further event: its state
                        // is not kept (an export of a long history is mostly finished jobs). A
                        // line that names it again is checked against the log, and refused.
                        if let s = touched[prepared.event.job], s.status == .completed || s.status == .canceled {
                            touched[prepared.event.job] = nil
                        }
                    }
                    guard lines == checked.lines, checker.events == checked.events else {
                        throw LedgerError.importFailed(line: lines, reason: "the input changed after it was checked (\(checked.lines) lines then, \(lines) now); import it again")
                    }
                    report.head = head.seq == 0 ? nil : head
                    // What came in by this import, kept: the blob projection makes no upload
                    // for it whenever it takes it in (`ImportedRanges`), also when it is still
                    // behind the head the import began at.
                    if head.seq > start, recordsImports {
                        try ImportedRanges.record(db, first: start + 1, last: head.seq, now: configuration.clock().milliseconds)
                    }
                    if head.seq > start, !startingAfter.isEmpty {
                        let now = configuration.clock().milliseconds
                        for name in startingAfter {
                            try Ledger.ensureProjection(db, name, now: now)
                            try db.execute(sql: "UPDATE projections SET checkpoint = ?, updated_at = ? WHERE name = ? AND checkpoint = ?",
                                           arguments: [head.seq, now, name.rawValue, start])
                        }
                    }
                    if stop() { throw stopped(at: lines) }
                    return .commit
                }
                // On the writer queue, so no append's bookkeeping can interleave with it.
                forgetCachedHead()
            }
        } catch {
            throw map(error)
        }
        report.jobs = jobs.count
        return report
    }

    /// A line already in the log: the same export imported again.
    static func importedBefore(_ job: JobID, version: Int, seq: Int64, line: Int) -> LedgerError {
        .importFailed(line: line, reason: "job \(job) version \(version) is already in this log, as seq \(seq), with the same payload: this export (or the part of it up to this line) was imported before")
    }

    /// The seq of the job's event at `version` when its payload digest is `digest`.
    static func seq(_ db: Database, holding job: JobID, version: Int, digest: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE job_id = ? AND version = ? AND payload_digest = ?",
                           arguments: [job.rawValue, version, digest])
    }

    struct ImportCheck {
        var seq: Int64
        var version: Int
        var digest: String
        var prevHash: String
        var hash: String
        /// The rule the line was hashed under, when it names one (and once checked, always).
        var rule: HashChain.Rule?
    }

    static func parseImportLine(_ line: String, number: Int) throws(LedgerError) -> (NewEvent, ImportCheck?) {
        func fail(_ reason: String) -> LedgerError { .importFailed(line: number, reason: reason) }
        let json: JSONValue
        if line.unicodeScalars.first == "\u{FEFF}" {
            throw fail("the line starts with a byte order mark (U+FEFF, which some editors put before UTF-8 text): an export has none; remove it")
        }
        // The line is one object around the payload: the depth limit is the payload's (what the
        // log accepted), not one level less.
        do { json = try JSONValue(parsing: line, enclosingLevels: 1) } catch { throw fail(error.description) }
        guard case .object(let o) = json else { throw fail("expected a JSON object per line") }
        let known: Set<String> = ["seq", "job_id", "version", "type", "recorded_at", "payload", "idempotency_key", "payload_digest", "prev_hash",
                                  "hash", "hash_rule"]
        if let extra = Set(o.keys).subtracting(known).sorted().first { throw fail("unknown field '\(extra)'") }
        if let v = o["job_id"], v.stringValue == nil { throw fail("'job_id' must be a string, got \(v.kindDescription)") }
        guard let jobText = o["job_id"]?.stringValue else { throw fail("missing 'job_id'") }
        let job: JobID
        do { job = try JobID(jobText) } catch { throw fail(error.description) }
        if let v = o["type"], v.stringValue == nil { throw fail("'type' must be a string, got \(v.kindDescription)") }
        guard let typeText = o["type"]?.stringValue else { throw fail("missing 'type'") }
        let payload: EventPayload
        do {
            let type = try EventType(name: typeText)
            payload = try EventPayload.decode(type: type, json: o["payload"] ?? .object([:]))
        } catch { throw fail(error.description) }
        guard let timeText = o["recorded_at"]?.stringValue, let at = Timestamp(iso8601: timeText) else {
            throw fail("'recorded_at' must be an ISO-8601 UTC time")
        }
        // What `replay` and `state` can reach (`--as-of`); the text's four digits end at 9999.
        guard Timestamp.recordable.contains(at.milliseconds) else {
            throw fail("'recorded_at' must be within \(Timestamp.recordableText) (got '\(timeText)')")
        }
        let key: String?
        switch o["idempotency_key"] {
        case nil, .null?: key = nil
        case .string(let k)?: key = k
        case let other?: throw fail("'idempotency_key' must be a string, got \(other.kindDescription)")
        }
        // Stated, they are whole numbers from 1 (a line without hashes had them read as
        // nothing: `"version":"banana"` was imported).
        var stated: (seq: Int64?, version: Int64?) = (nil, nil)
        for name in ["seq", "version"] {
            guard let value = o[name] else { continue }
            guard let n = value.intValue, n >= 1 else { throw fail("'\(name)' must be a whole number from 1, got \(value.kindDescription)") }
            if name == "seq" { stated.seq = n } else { stated.version = n }
        }
        var check: ImportCheck?
        let chainFields = ["payload_digest", "prev_hash", "hash"].filter { o[$0] != nil }
        if !chainFields.isEmpty && chainFields.count < 3 {
            throw fail("a line carries all of payload_digest, prev_hash and hash, or none of them")
        }
        if let digest = o["payload_digest"]?.stringValue, let prev = o["prev_hash"]?.stringValue, let hash = o["hash"]?.stringValue {
            guard let seq = stated.seq, let version = stated.version else { throw fail("'seq' and 'version' must be whole numbers") }
            guard Digest.sha256Hex(payload.canonicalText) == digest else {
                throw fail("payload does not match its payload_digest: the export was edited, or the log it came from stored this payload in another form than jobledger writes (its verify warns of that)")
            }
            var rule: HashChain.Rule?
            if let named = o["hash_rule"] {
                guard let text = named.stringValue, let r = HashChain.Rule(rawValue: text) else {
                    throw fail("'hash_rule' must be one of \(HashChain.Rule.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                rule = r
            }
            check = ImportCheck(seq: seq, version: Int(version), digest: digest, prevHash: prev, hash: hash, rule: rule)
        }
        // A stated version is the one the event must get (`check` holds it for a line with
        // hashes): a hand-written line that says version 1 is not taken as a requeue.
        let expected = check == nil ? stated.version.map { Int($0) - 1 } : nil
        return (NewEvent(job: job, payload: payload, expectedVersion: expected, idempotencyKey: key, recordedAt: at), check)
    }
}

extension JSONValue {
    /// What kind of value this is, for an error message: "a number (42)", "an object" ….
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool(let b): "a boolean (\(b))"
        case .int, .double: "a number (\(canonicalText))"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
