import Foundation
import GRDB
import JobLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file (or standard input) line by line, in time linear in its size and in memory
/// bounded by the longest line allowed. A line longer than `maxLineBytes`, or one that is not
/// UTF-8, is refused with its number (`LedgerError.importFailed`); bytes are never replaced.
/// The reader holds at most `maxLineBytes + chunkSize` bytes: it stops at a line as soon as the
/// line is known to be too long, without reading the rest of it.
public struct LineReader {
    /// 4 MiB: far above a line of the largest payload the log accepts by default (64 KiB).
    public static let defaultMaxLineBytes = 4 << 20

    /// The longest line accepted, in bytes (without its line feed).
    public let maxLineBytes: Int
    /// How many bytes one read asks for.
    public let chunkSize: Int
    /// The number of the last line returned (1 for the first).
    public private(set) var lineNumber = 0
    /// The most bytes the reader has held at once.
    public private(set) var peakBufferedBytes = 0
    /// The bytes read from the source so far.
    public private(set) var bytesRead: Int64 = 0

    private var buffer: [UInt8] = []
    /// Where the current line starts in `buffer`.
    private var start = 0
    /// Bytes of `buffer` before this one hold no newline after `start`.
    private var scanned = 0
    private var atEOF = false
    /// Appends up to the given number of bytes to the buffer; returns how many (0 at the end).
    private let fill: (inout [UInt8], Int) throws(LedgerError) -> Int

    /// Reads from the handle's file descriptor, from its current offset to its end.
    public init(handle: FileHandle, maxLineBytes: Int = LineReader.defaultMaxLineBytes, chunkSize: Int = 1 << 16) {
        self.init(maxLineBytes: maxLineBytes, chunkSize: chunkSize) { [handle] buffer, count throws(LedgerError) in
            try LineReader.readChunk(handle.fileDescriptor, into: &buffer, upTo: count)
        }
    }

    init(maxLineBytes: Int, chunkSize: Int = 1 << 16, fill: @escaping (inout [UInt8], Int) throws(LedgerError) -> Int) {
        self.maxLineBytes = max(1, maxLineBytes)
        self.chunkSize = max(1, chunkSize)
        self.fill = fill
        buffer.reserveCapacity(2 * self.chunkSize)
    }

    /// The next line, without its line feed (and a carriage return before it), or nil at the
    /// end of the input. The last line needs no line feed.
    public mutating func next() throws(LedgerError) -> String? {
        while true {
            if let newline = firstNewline() {
                lineNumber += 1
                let from = start
                start = newline + 1
                scanned = start
                return try line(from..<newline)
            }
            scanned = buffer.count
            if buffer.count - start > maxLineBytes { throw tooLong(lineNumber + 1) }
            if atEOF {
                guard start < buffer.count else { return nil }
                lineNumber += 1
                let from = start
                start = buffer.count
                return try line(from..<buffer.count)
            }
            // Only the unfinished line is kept, moved to the front once: every byte is moved
            // at most once, so reading is linear however long the lines are.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                scanned -= start
                start = 0
            }
            let n = try fill(&buffer, chunkSize)
            if n == 0 { atEOF = true }
            bytesRead += Int64(n)
            peakBufferedBytes = max(peakBufferedBytes, buffer.count)
        }
    }

    private func firstNewline() -> Int? {
        guard scanned < buffer.count else { return nil }
        return buffer.withUnsafeBytes { b -> Int? in
            guard let found = memchr(b.baseAddress! + scanned, 0x0A, b.count - scanned) else { return nil }
            return b.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    private func line(_ range: Range<Int>) throws(LedgerError) -> String {
        var end = range.upperBound
        if end > range.lowerBound && buffer[end - 1] == 0x0D { end -= 1 }
        if end - range.lowerBound > maxLineBytes { throw tooLong(lineNumber) }
        let bytes = buffer[range.lowerBound..<end]
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .importFailed(line: lineNumber, reason: "the line is not valid UTF-8 (the bytes from offset \(LineReader.firstInvalidUTF8(bytes)) of the line are not UTF-8 text); an export is UTF-8, and bytes are never replaced: fix the file or export it again")
        }
        return text
    }

    private func tooLong(_ number: Int) -> LedgerError {
        .importFailed(line: number, reason: "the line is longer than the limit of \(maxLineBytes) bytes; raise the limit (--max-line-bytes) if the line is genuine")
    }

    /// The offset of the first byte that does not decode as UTF-8.
    static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        return offset
    }

    /// Appends up to `count` bytes read from `fd` to `buffer`; returns how many (0 at the end).
    static func readChunk(_ fd: Int32, into buffer: inout [UInt8], upTo count: Int) throws(LedgerError) -> Int {
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: count))
        var n: Int
        var failure: Int32 = 0
        repeat {
            n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, count) }
            failure = n < 0 ? errno : 0
        } while n < 0 && failure == EINTR
        buffer.removeLast(count - max(n, 0))
        if n < 0 { throw .storage("cannot read the input: \(String(cString: strerror(failure)))") }
        return n
    }
}

/// The NDJSON form of the log: one event per line, every stored column, payload inlined as JSON.
/// `Docs/EventLog.md` § Export describes it.
public enum NDJSON {
    /// One event as a line. An event hashed under an older rule than the current one says so
    /// with `"hash_rule"`, so that its hash can be checked from the line alone.
    public static func line(_ e: RawEvent, rule: HashChain.Rule = .current) -> String {
        var s = "{\"seq\":\(e.seq),\"job_id\":"
        JSONValue.string(e.jobID).write(to: &s)
        s += ",\"version\":\(e.version),\"type\":\"\(e.type)\",\"recorded_at\":\"\(e.recordedAt.iso8601)\",\"payload\":"
        s += e.payload
        if let k = e.idempotencyKey {
            s += ",\"idempotency_key\":"
            JSONValue.string(k).write(to: &s)
        }
        s += ",\"payload_digest\":\"\(e.payloadDigest)\",\"prev_hash\":\"\(e.prevHash)\",\"hash\":\"\(e.hash)\""
        if rule != .current { s += ",\"hash_rule\":\"\(rule.rawValue)\"" }
        return s + "}"
    }
}

/// What an import appended.
public struct ImportReport: Sendable {
    /// Events appended.
    public var events = 0
    /// Distinct jobs among them.
    public var jobs = 0
    /// The `seq` the first imported event got in this log; nil when nothing was imported.
    public var firstSeq: Int64?
    /// The log's head after the import.
    public var head: ChainHead?
}

/// An NDJSON export read to its end and checked line by line without the log: the first pass
/// of an import, done before any lock is taken. Each line is valid UTF-8 within the line-length
/// limit, a JSON object of known fields, with a payload that decodes; the file's own hash chain
/// holds. What only the log can say (transitions, versions, idempotency keys, the size limit)
/// is checked by `Ledger.importNDJSON(_:)`, which reads the input a second time inside its
/// transaction, checking every line again.
///
/// Standard input that is not a regular file (a pipe, a terminal) is copied to a temporary
/// file while it is checked, so that the transaction never waits for a slow writer at the other
/// end. The copy has no name from the moment it is created (it is unlinked at once) and is gone
/// when this value is.
public final class CheckedImport {
    /// Lines read, blank ones included.
    public let lines: Int
    /// Events found (non-blank lines).
    public let events: Int
    /// Lines, from the first, hashed under `HashChain.Rule.v1` (an export of a log older
    /// than schema v4): an import into an empty log keeps their rule.
    let leadingV1: Int
    /// Bytes read.
    public let bytes: Int64
    /// The line-length limit the input was checked against.
    public let maxLineBytes: Int
    private let source: Source

    private enum Source {
        case memory([String])
        /// A file descriptor this value owns, read again from `offset`.
        case file(fd: Int32, offset: off_t)
    }

    private init(lines: Int, events: Int, leadingV1: Int, bytes: Int64, maxLineBytes: Int, source: Source) {
        self.lines = lines
        self.events = events
        self.leadingV1 = leadingV1
        self.bytes = bytes
        self.maxLineBytes = maxLineBytes
        self.source = source
    }

    deinit {
        if case .file(let fd, _) = source { close(fd) }
    }

    /// Checks lines held in memory.
    public static func check<S: Sequence>(lines: S) throws(LedgerError) -> CheckedImport where S.Element == String {
        let all = Array(lines)
        var checker = ImportLineChecker()
        for (i, line) in all.enumerated() { _ = try checker.check(line, number: i + 1) }
        return CheckedImport(lines: all.count, events: checker.events, leadingV1: checker.leadingV1, bytes: all.reduce(0) { $0 + Int64($1.utf8.count) },
                             maxLineBytes: .max, source: .memory(all))
    }

    /// Reads the handle from its current offset to its end and checks every line. A regular
    /// file is read again in place by the import; anything else is copied aside as it is read.
    public static func check(handle: FileHandle, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws(LedgerError) -> CheckedImport {
        let fd = dup(handle.fileDescriptor)
        guard fd >= 0 else { throw .storage("cannot read the input: \(String(cString: strerror(errno)))") }
        var info = stat()
        let offset = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? lseek(fd, 0, SEEK_CUR) : -1
        if offset >= 0 {
            do {
                return try check(fd: fd, offset: offset, spool: nil, maxLineBytes: maxLineBytes)
            } catch {
                close(fd)
                throw error
            }
        }
        defer { close(fd) }
        let spool = try makeSpool()
        do {
            return try check(fd: fd, offset: 0, spool: spool, maxLineBytes: maxLineBytes)
        } catch {
            close(spool)
            throw error
        }
    }

    /// The first pass over `fd`, copying what it reads to `spool` when given. The value keeps
    /// the descriptor it reads again: `spool`, else `fd`.
    private static func check(fd: Int32, offset: off_t, spool: Int32?, maxLineBytes: Int) throws(LedgerError) -> CheckedImport {
        var reader = LineReader(maxLineBytes: maxLineBytes) { buffer, count throws(LedgerError) in
            let old = buffer.count
            let n = try LineReader.readChunk(fd, into: &buffer, upTo: count)
            if let spool, n > 0 { try writeAll(spool, buffer[old..<old + n]) }
            return n
        }
        var checker = ImportLineChecker()
        while let line = try reader.next() { _ = try checker.check(line, number: reader.lineNumber) }
        return CheckedImport(lines: reader.lineNumber, events: checker.events, leadingV1: checker.leadingV1, bytes: reader.bytesRead, maxLineBytes: maxLineBytes,
                             source: .file(fd: spool ?? fd, offset: spool == nil ? offset : 0))
    }

    /// Calls `body` with every line and its number, read again from the start.
    func forEachLine(_ body: (String, Int) throws -> Void) throws {
        switch source {
        case .memory(let all):
            for (i, line) in all.enumerated() { try body(line, i + 1) }
        case .file(let fd, let offset):
            guard lseek(fd, offset, SEEK_SET) == offset else {
                throw LedgerError.storage("cannot read the input again: \(String(cString: strerror(errno)))")
            }
            // No further than the first pass read: a file that grows meanwhile adds nothing.
            var remaining = bytes
            var reader = LineReader(maxLineBytes: maxLineBytes) { buffer, count throws(LedgerError) in
                guard remaining > 0 else { return 0 }
                let n = try LineReader.readChunk(fd, into: &buffer, upTo: Int(min(Int64(count), remaining)))
                remaining -= Int64(n)
                return n
            }
            while let line = try reader.next() { try body(line, reader.lineNumber) }
        }
    }

    /// An unnamed temporary file: created in the temporary folder (`TMPDIR`) and unlinked at
    /// once, so nothing is left behind whatever happens to the process.
    private static func makeSpool() throws(LedgerError) -> Int32 {
        let folder = FileManager.default.temporaryDirectory.path
        var template = Array((folder + "/jobledger-import-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw .storage("cannot create a temporary file in \(folder) to hold the input while it is checked (\(String(cString: strerror(errno)))); set TMPDIR to a writable folder with room for it")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(LedgerError) {
        var failure: Int32 = 0
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = write(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 {
            throw .storage("cannot copy the input to a temporary file (\(String(cString: strerror(failure)))); set TMPDIR to a folder with room for it")
        }
    }
}

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
            if rule == .v1 { leadingV1 += 1 }
            lastRule = rule
            c.rule = rule
            check = c
            fileChain = c.hash
        }
        let prepared: PreparedEvent
        // Events recorded before fencing name no claim; the lifecycle still checks them.
        do { prepared = try PreparedEvent(event, requireClaim: false) } catch { throw .importFailed(line: lineNumber, reason: error.description) }
        events += 1
        return (prepared, check)
    }
}

extension Ledger {
    /// Writes every event, in order, as one NDJSON line each (without the line feed), from one
    /// snapshot, in constant memory.
    ///
    /// ```swift
    /// var out = ""
    /// try ledger.exportNDJSON { line in out += line + "\n" }
    /// ```
    public func exportNDJSON(_ write: (String) throws -> Void) throws(LedgerError) {
        let v2From = try hashRuleStart()
        try forEachRawEvent { raw in try write(NDJSON.line(raw, rule: raw.seq >= v2From ? .v2 : .v1)) }
    }

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
    public func importNDJSON(_ checked: CheckedImport) throws(LedgerError) -> ImportReport {
        guard !isReadOnly else { throw .readOnly(path: path) }
        var report = ImportReport()
        var jobs = Set<JobID>()
        gate.enterBlocking()
        defer { gate.leave() }
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    var head = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
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
                    try checked.forEachLine { line, lineNumber in
                        lines = lineNumber
                        guard let (prepared, check) = try checker.check(line, number: lineNumber) else { return }
                        let stored: [StoredEvent]
                        do {
                            let rule: HashChain.Rule? = keepRules && head.seq < Int64(checked.leadingV1) ? .v1 : nil
                            stored = try appendRequest([prepared], db: db, head: &head, jobs: &touched, rule: rule)
                        } catch let e as LedgerError {
                            throw LedgerError.importFailed(line: lineNumber, reason: e.description)
                        }
                        if let check, stored[0].version != check.version {
                            throw LedgerError.importFailed(line: lineNumber, reason: "job \(prepared.event.job) would get version \(stored[0].version) here, the line says \(check.version) (the job already has events in this log?)")
                        }
                        if report.firstSeq == nil { report.firstSeq = stored[0].seq }
                        report.events += 1
                        jobs.insert(prepared.event.job)
                    }
                    guard lines == checked.lines, checker.events == checked.events else {
                        throw LedgerError.importFailed(line: lines, reason: "the input changed after it was checked (\(checked.lines) lines then, \(lines) now); import it again")
                    }
                    report.head = head.seq == 0 ? nil : head
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
        do { json = try JSONValue(parsing: line) } catch { throw fail(error.description) }
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
        let key: String?
        switch o["idempotency_key"] {
        case nil, .null?: key = nil
        case .string(let k)?: key = k
        case let other?: throw fail("'idempotency_key' must be a string, got \(other.kindDescription)")
        }
        var check: ImportCheck?
        let chainFields = ["payload_digest", "prev_hash", "hash"].filter { o[$0] != nil }
        if !chainFields.isEmpty && chainFields.count < 3 {
            throw fail("a line carries all of payload_digest, prev_hash and hash, or none of them")
        }
        if let digest = o["payload_digest"]?.stringValue, let prev = o["prev_hash"]?.stringValue, let hash = o["hash"]?.stringValue {
            guard let seq = o["seq"]?.intValue, let version = o["version"]?.intValue else { throw fail("'seq' and 'version' must be whole numbers") }
            guard Digest.sha256Hex(payload.canonicalText) == digest else {
                throw fail("payload does not match its payload_digest: the export was edited")
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
        return (NewEvent(job: job, payload: payload, idempotencyKey: key, recordedAt: at), check)
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
