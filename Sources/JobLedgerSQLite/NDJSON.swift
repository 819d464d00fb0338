import Foundation
import GRDB
import JobLedger

/// Reads a file (or standard input) line by line in constant memory.
public struct LineReader: Sequence, IteratorProtocol {
    private let handle: FileHandle
    private var buffer = Data()
    private var atEOF = false

    public init(handle: FileHandle) { self.handle = handle }

    public mutating func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                var line = buffer[buffer.startIndex..<nl]
                if line.last == 0x0D { line = line.dropLast() }
                buffer = buffer[(nl + 1)...]
                return String(decoding: line, as: UTF8.self)
            }
            if atEOF {
                if buffer.isEmpty { return nil }
                defer { buffer = Data() }
                return String(decoding: buffer, as: UTF8.self)
            }
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { atEOF = true } else { buffer = Data(buffer) + chunk }
        }
    }
}

/// The NDJSON form of the log: one event per line, every stored column, payload inlined as JSON.
/// `Docs/EventLog.md` § Export describes it.
public enum NDJSON {
    public static func line(_ e: RawEvent) -> String {
        var s = "{\"seq\":\(e.seq),\"job_id\":"
        JSONValue.string(e.jobID).write(to: &s)
        s += ",\"version\":\(e.version),\"type\":\"\(e.type)\",\"recorded_at\":\"\(e.recordedAt.iso8601)\",\"payload\":"
        s += e.payload
        if let k = e.idempotencyKey {
            s += ",\"idempotency_key\":"
            JSONValue.string(k).write(to: &s)
        }
        s += ",\"payload_digest\":\"\(e.payloadDigest)\",\"prev_hash\":\"\(e.prevHash)\",\"hash\":\"\(e.hash)\"}"
        return s
    }
}

/// What an import appended.
public struct ImportReport: Sendable {
    public var events = 0
    public var jobs = 0
    public var firstSeq: Int64?
    public var head: ChainHead?
}

extension Ledger {
    /// Writes every event, in order, as one NDJSON line each.
    public func exportNDJSON(_ write: (String) throws -> Void) throws(LedgerError) {
        try forEachRawEvent { raw in try write(NDJSON.line(raw)) }
    }

    /// Appends the events of an NDJSON export in one transaction, re-validating every
    /// transition. All or nothing: a bad line anywhere appends nothing and is named by number.
    /// Original times and idempotency keys are kept; `seq` and the hash chain are those of this
    /// log (into an empty log, an untouched export reproduces the same hashes).
    /// When lines carry `payload_digest`, `prev_hash` and `hash`, the file's own chain is
    /// checked too, so an edited export is refused.
    public func importNDJSON<S: Sequence>(_ lines: S) throws(LedgerError) -> ImportReport where S.Element == String {
        var report = ImportReport()
        var jobs = Set<JobID>()
        gate.enterBlocking()
        defer { gate.leave() }
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    var head = try Ledger.fetchHead(db) ?? ChainHead(seq: 0, hash: HashChain.genesis)
                    var touched: [JobID: JobState?] = [:]
                    var fileChain: String?
                    var lineNumber = 0
                    for line in lines {
                        lineNumber += 1
                        if line.allSatisfy(\.isWhitespace) { continue }
                        let (event, check) = try Ledger.parseImportLine(line, number: lineNumber)
                        if check == nil, fileChain != nil {
                            throw LedgerError.importFailed(line: lineNumber, reason: "the lines before carry payload_digest, prev_hash and hash, this one does not: the export was edited")
                        }
                        if let check, fileChain == nil {
                            // The chain of an export starts at its first line, at seq 1.
                            guard report.events == 0 else {
                                throw LedgerError.importFailed(line: lineNumber, reason: "this line carries payload_digest, prev_hash and hash, the lines before do not: the export was edited")
                            }
                            guard check.seq == 1, check.prevHash == HashChain.genesis else {
                                throw LedgerError.importFailed(line: lineNumber, reason: "an export starts at seq 1 with prev_hash \(HashChain.genesis.prefix(8))…; this one starts at seq \(check.seq): lines were cut from its start")
                            }
                        }
                        if let check {
                            let canonical = HashChain.canonical(seq: check.seq, job: event.job, version: check.version, type: event.payload.type,
                                                                recordedAt: event.recordedAt!, payloadDigest: check.digest)
                            if let prev = fileChain, prev != check.prevHash {
                                throw LedgerError.importFailed(line: lineNumber, reason: "prev_hash does not match the previous line's hash: lines were removed, reordered or edited")
                            }
                            if Digest.chain(prevHash: check.prevHash, canonical: canonical) != check.hash {
                                throw LedgerError.importFailed(line: lineNumber, reason: "hash does not match the line's fields: the export was edited")
                            }
                            fileChain = check.hash
                        }
                        let stored: [StoredEvent]
                        do {
                            stored = try appendRequest([try PreparedEvent(event, requireClaim: false)], db: db, head: &head, touched: &touched)
                        } catch let e as LedgerError {
                            throw LedgerError.importFailed(line: lineNumber, reason: e.description)
                        }
                        if let check, stored[0].version != check.version {
                            throw LedgerError.importFailed(line: lineNumber, reason: "job \(event.job) would get version \(stored[0].version) here, the line says \(check.version) (the job already has events in this log?)")
                        }
                        if report.firstSeq == nil { report.firstSeq = stored[0].seq }
                        report.events += 1
                        jobs.insert(event.job)
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
    }

    static func parseImportLine(_ line: String, number: Int) throws(LedgerError) -> (NewEvent, ImportCheck?) {
        func fail(_ reason: String) -> LedgerError { .importFailed(line: number, reason: reason) }
        let json: JSONValue
        do { json = try JSONValue(parsing: line) } catch { throw fail(error.description) }
        guard case .object(let o) = json else { throw fail("expected a JSON object per line") }
        let known: Set<String> = ["seq", "job_id", "version", "type", "recorded_at", "payload", "idempotency_key", "payload_digest", "prev_hash", "hash"]
        if let extra = Set(o.keys).subtracting(known).sorted().first { throw fail("unknown field '\(extra)'") }
        guard let jobText = o["job_id"]?.stringValue else { throw fail("missing 'job_id'") }
        let job: JobID
        do { job = try JobID(jobText) } catch { throw fail(error.description) }
        guard let typeText = o["type"]?.stringValue else { throw fail("missing 'type'") }
        let payload: EventPayload
        do {
            let type = try EventType(name: typeText)
            payload = try EventPayload.decode(type: type, json: o["payload"] ?? .object([:]))
        } catch { throw fail(error.description) }
        guard let timeText = o["recorded_at"]?.stringValue, let at = Timestamp(iso8601: timeText) else {
            throw fail("'recorded_at' must be an ISO-8601 UTC time")
        }
        let key = o["idempotency_key"]?.stringValue
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
            check = ImportCheck(seq: seq, version: Int(version), digest: digest, prevHash: prev, hash: hash)
        }
        return (NewEvent(job: job, payload: payload, idempotencyKey: key, recordedAt: at), check)
    }
}
