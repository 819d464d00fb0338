/// What one event says, typed per event type. Encoded in the log as canonical JSON with
/// snake_case keys; `Docs/EventLog.md` lists every field.
public enum EventPayload: Sendable, Hashable {
    /// A job was submitted (always its first event; again to requeue a failed job).
    case queued(Queued)
    /// A worker claimed the job for its next attempt.
    case started(Started)
    /// The running attempt reported progress (and renewed its lease).
    case progress(Progress)
    /// The running attempt staged a preview.
    case lowres(Lowres)
    /// The running attempt finished the job.
    case completed(Completed)
    /// The running attempt failed; the job is requeued or failed for good.
    case failed(Failed)
    /// The job was canceled.
    case canceled(Canceled)

    /// A job was submitted: what to run, with what input, how urgently and how often to try.
    public struct Queued: Sendable, Hashable {
        /// Which handler runs the job (`JobEngine.register(kind:…)`).
        public var kind: String
        /// What the handler is given (`JobContext.input`).
        public var input: JSONValue
        /// Higher runs first, then oldest; −1,000,000…1,000,000.
        public var priority: Int
        /// Attempts before a retryable failure is final (1…1000); on a requeue, how many more.
        public var maxAttempts: Int
        /// Not claimed before this time; nil: at once.
        public var runAt: Timestamp?
        /// A submission; the defaults are those of a `queued` payload without the field.
        public init(kind: String, input: JSONValue = .object([:]), priority: Int = 0, maxAttempts: Int = 3, runAt: Timestamp? = nil) {
            self.kind = kind; self.input = input; self.priority = priority; self.maxAttempts = maxAttempts; self.runAt = runAt
        }
    }

    /// A worker took the job for one attempt and holds it until the lease deadline.
    public struct Started: Sendable, Hashable {
        /// The claiming engine (`JobEngine.Options.workerID`).
        public var worker: String
        /// The attempt it starts: the job's attempt count + 1.
        public var attempt: Int
        /// The claim holds until then unless progress renews it; after it, any engine may requeue the job.
        public var leaseDeadline: Timestamp
        /// A claim of `attempt` by `worker` until `leaseDeadline`.
        public init(worker: String, attempt: Int, leaseDeadline: Timestamp) {
            self.worker = worker; self.attempt = attempt; self.leaseDeadline = leaseDeadline
        }
    }

    /// How far the running attempt has got, as a fraction 0…1, with an optional note.
    /// A progress report doubles as a heartbeat: with `leaseDeadline` it extends the lease.
    public struct Progress: Sendable, Hashable {
        /// 0…1, never lower than the attempt's previous progress.
        public var fraction: Double
        /// A short note for people ("sketching"); nil keeps the previous one.
        public var message: String?
        /// The renewed lease deadline; nil leaves the lease as it was.
        public var leaseDeadline: Timestamp?
        /// The attempt (claim) reporting it. The log refuses it once that attempt no longer
        /// holds the job. Required on append; absent only in events recorded before fencing.
        public var attempt: Int?
        /// A progress report of attempt `attempt`.
        public init(fraction: Double, message: String? = nil, leaseDeadline: Timestamp? = nil, attempt: Int? = nil) {
            self.fraction = fraction; self.message = message; self.leaseDeadline = leaseDeadline; self.attempt = attempt
        }
    }

    /// A low-resolution preview was staged.
    public struct Lowres: Sendable, Hashable {
        /// The staged preview bytes.
        public var asset: AssetRef
        /// The attempt (claim) that staged it; see `Progress.attempt`.
        public var attempt: Int?
        /// A preview staged by attempt `attempt`.
        public init(asset: AssetRef, attempt: Int? = nil) { self.asset = asset; self.attempt = attempt }
    }

    /// The job finished; its final bytes (if any) and output JSON (if any).
    public struct Completed: Sendable, Hashable {
        /// The staged result bytes, if the job produced any.
        public var asset: AssetRef?
        /// The result as JSON, if any (`JobCompletion.output`, a typed job's `Output`).
        public var output: JSONValue?
        /// The attempt (claim) that finished it; see `Progress.attempt`.
        public var attempt: Int?
        /// The end of attempt `attempt`, with its result.
        public init(asset: AssetRef? = nil, output: JSONValue? = nil, attempt: Int? = nil) {
            self.asset = asset; self.output = output; self.attempt = attempt
        }
    }

    /// An attempt failed. A retryable failure with attempts left requeues the job, not before
    /// `retryAt`; otherwise the job is failed for good.
    public struct Failed: Sendable, Hashable {
        /// A short machine-readable reason (`JobFailure.code`).
        public var code: String
        /// What went wrong, for people.
        public var message: String
        /// Whether another attempt could succeed.
        public var retryable: Bool
        /// The attempt that failed (its claim).
        public var attempt: Int
        /// For a retryable failure: the next attempt is not claimed before then (nil: at once).
        public var retryAt: Timestamp?
        /// A failure of attempt `attempt`.
        public init(code: String, message: String, retryable: Bool, attempt: Int, retryAt: Timestamp? = nil) {
            self.code = code; self.message = message; self.retryable = retryable; self.attempt = attempt; self.retryAt = retryAt
        }
    }

    /// The job was canceled, with a reason.
    public struct Canceled: Sendable, Hashable {
        /// Why, for the record (may be empty).
        public var reason: String
        /// A cancellation with its reason.
        public init(reason: String) { self.reason = reason }
    }

    /// The attempt an event written by an attempt names (its claim): progress, lowres,
    /// completed and failed. Nil for the other types, and for events recorded before fencing.
    public var claim: Int? {
        switch self {
        case .progress(let p): p.attempt
        case .lowres(let l): l.attempt
        case .completed(let c): c.attempt
        case .failed(let f): f.attempt
        case .queued, .started, .canceled: nil
        }
    }

    /// True for the event types an attempt writes, which must name their claim when appended.
    public var isWrittenByAnAttempt: Bool {
        switch self {
        case .progress, .lowres, .completed, .failed: true
        case .queued, .started, .canceled: false
        }
    }

    /// The event type this payload belongs to.
    public var type: EventType {
        switch self {
        case .queued: .queued
        case .started: .started
        case .progress: .progress
        case .lowres: .lowres
        case .completed: .completed
        case .failed: .failed
        case .canceled: .canceled
        }
    }
}

/// A payload that does not fit its event type: a missing or mistyped field, an unknown field,
/// a value out of range. Says which field and what is expected.
public struct PayloadError: Error, Equatable, CustomStringConvertible {
    /// The event type whose payload was wrong; nil when the type itself is unknown.
    public let type: EventType?
    /// Which field, and what was expected.
    public let reason: String
    /// A refusal of a payload of `type`, saying why.
    public init(type: EventType?, reason: String) { self.type = type; self.reason = reason }
    /// `invalid <type> payload: <reason>`.
    public var description: String {
        if let type { return "invalid \(type) payload: \(reason)" }
        return reason
    }
}

// MARK: - Rules

/// The limits every payload obeys, whether decoded from JSON or built in Swift.
enum PayloadRules {
    static let nameBytes = 1...200
    static let priority = -1_000_000...1_000_000
    static let attempts = 1...1000
    /// Years 0001…9999, the range ISO-8601 text can carry.
    static let time = Int64(-62_135_596_800_000)...Int64(253_402_300_799_999)
}

extension EventPayload {
    /// Checks the payload against the rules decoding enforces, so a payload built in Swift
    /// can always be read back. Throws a `PayloadError` naming the field.
    public func validate() throws(PayloadError) {
        func fail(_ reason: String) -> PayloadError { PayloadError(type: type, reason: reason) }
        func name(_ field: String, _ v: String) throws(PayloadError) {
            guard PayloadRules.nameBytes.contains(v.utf8.count) else { throw fail("'\(field)' must be 1…200 bytes long") }
        }
        func within(_ field: String, _ v: Int, _ r: ClosedRange<Int>) throws(PayloadError) {
            guard r.contains(v) else { throw fail("'\(field)' must be in \(r.lowerBound)…\(r.upperBound), got \(v)") }
        }
        func time(_ field: String, _ t: Timestamp?) throws(PayloadError) {
            guard let t else { return }
            guard PayloadRules.time.contains(t.milliseconds) else { throw fail("'\(field)' must be within the years 0001…9999") }
        }
        func asset(_ field: String, _ a: AssetRef?) throws(PayloadError) {
            guard let a else { return }
            guard a.sha256.utf8.count == 64, a.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw fail("'\(field).sha256' must be 64 lowercase hex digits")
            }
            guard a.size >= 0 else { throw fail("'\(field).size' must be a whole number ≥ 0") }
            try name("\(field).content_type", a.contentType)
        }
        switch self {
        case .queued(let q):
            try name("kind", q.kind)
            try within("priority", q.priority, PayloadRules.priority)
            try within("max_attempts", q.maxAttempts, PayloadRules.attempts)
            try time("run_at", q.runAt)
        case .started(let st):
            try name("worker", st.worker)
            try within("attempt", st.attempt, PayloadRules.attempts)
            try time("lease_deadline", st.leaseDeadline)
        case .progress(let p):
            try time("lease_deadline", p.leaseDeadline)
            if let a = p.attempt { try within("attempt", a, PayloadRules.attempts) }
        case .lowres(let l):
            try asset("asset", l.asset)
            if let a = l.attempt { try within("attempt", a, PayloadRules.attempts) }
        case .completed(let c):
            try asset("asset", c.asset)
            if let a = c.attempt { try within("attempt", a, PayloadRules.attempts) }
        case .failed(let f):
            try name("code", f.code)
            try within("attempt", f.attempt, PayloadRules.attempts)
            try time("retry_at", f.retryAt)
        case .canceled:
            break
        }
    }
}

// MARK: - JSON mapping

extension EventPayload {
    /// The payload as JSON (the form stored in the log).
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        switch self {
        case .queued(let q):
            o["kind"] = .string(q.kind)
            o["input"] = q.input
            o["priority"] = .int(Int64(q.priority))
            o["max_attempts"] = .int(Int64(q.maxAttempts))
            if let r = q.runAt { o["run_at"] = .string(r.iso8601) }
        case .started(let s):
            o["worker"] = .string(s.worker)
            o["attempt"] = .int(Int64(s.attempt))
            o["lease_deadline"] = .string(s.leaseDeadline.iso8601)
        case .progress(let p):
            if let a = p.attempt { o["attempt"] = .int(Int64(a)) }
            o["fraction"] = .double(p.fraction)
            if let m = p.message { o["message"] = .string(m) }
            if let l = p.leaseDeadline { o["lease_deadline"] = .string(l.iso8601) }
        case .lowres(let l):
            o["asset"] = l.asset.json
            if let a = l.attempt { o["attempt"] = .int(Int64(a)) }
        case .completed(let c):
            if let a = c.asset { o["asset"] = a.json }
            if let a = c.attempt { o["attempt"] = .int(Int64(a)) }
            if let out = c.output { o["output"] = out }
        case .failed(let f):
            o["code"] = .string(f.code)
            o["message"] = .string(f.message)
            o["retryable"] = .bool(f.retryable)
            o["attempt"] = .int(Int64(f.attempt))
            if let r = f.retryAt { o["retry_at"] = .string(r.iso8601) }
        case .canceled(let c):
            o["reason"] = .string(c.reason)
        }
        return .object(o)
    }

    /// Canonical JSON text of the payload: the same text as `json.canonicalText`, written
    /// directly with the keys in sorted order (this is on every append's path).
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// `canonicalText` as UTF-8 bytes, without building the string.
    public var canonicalBytes: [UInt8] {
        var w = CanonicalWriter()
        switch self {
        case .queued(let q):
            w.value("input", q.input)
            w.string("kind", q.kind)
            w.int("max_attempts", q.maxAttempts)
            w.int("priority", q.priority)
            if let r = q.runAt { w.string("run_at", r.iso8601) }
        case .started(let s):
            w.int("attempt", s.attempt)
            w.string("lease_deadline", s.leaseDeadline.iso8601)
            w.string("worker", s.worker)
        case .progress(let p):
            if let a = p.attempt { w.int("attempt", a) }
            w.value("fraction", .double(p.fraction))
            if let l = p.leaseDeadline { w.string("lease_deadline", l.iso8601) }
            if let m = p.message { w.string("message", m) }
        case .lowres(let l):
            w.value("asset", l.asset.json)
            if let a = l.attempt { w.int("attempt", a) }
        case .completed(let c):
            if let a = c.asset { w.value("asset", a.json) }
            if let a = c.attempt { w.int("attempt", a) }
            if let o = c.output { w.value("output", o) }
        case .failed(let f):
            w.int("attempt", f.attempt)
            w.string("code", f.code)
            w.string("message", f.message)
            if let r = f.retryAt { w.string("retry_at", r.iso8601) }
            w.value("retryable", .bool(f.retryable))
        case .canceled(let c):
            w.string("reason", c.reason)
        }
        return w.finish()
    }

    /// Reads a payload of the given type from JSON text. Absent optional fields take their
    /// defaults (queued: input `{}`, priority 0, max_attempts 3); unknown fields are refused.
    public static func decode(type: EventType, text: String) throws(PayloadError) -> EventPayload {
        let json: JSONValue
        do { json = try JSONValue(parsing: text) } catch {
            throw PayloadError(type: type, reason: error.description)
        }
        return try decode(type: type, json: json)
    }

    /// Reads a payload of the given type from parsed JSON; the same rules as `decode(type:text:)`.
    public static func decode(type: EventType, json: JSONValue) throws(PayloadError) -> EventPayload {
        guard case .object(let o) = json else {
            throw PayloadError(type: type, reason: "expected a JSON object, got \(json.typeName)")
        }
        var r = FieldReader(type: type, object: o)
        let payload: EventPayload
        switch type {
        case .queued:
            payload = .queued(Queued(
                kind: try r.name("kind"),
                input: r.optional("input") ?? .object([:]),
                priority: try r.int("priority", default: 0, in: PayloadRules.priority),
                maxAttempts: try r.int("max_attempts", default: 3, in: PayloadRules.attempts),
                runAt: try r.timestamp("run_at")))
        case .started:
            payload = .started(Started(
                worker: try r.name("worker"),
                attempt: try r.int("attempt", default: nil, in: PayloadRules.attempts),
                leaseDeadline: try r.requiredTimestamp("lease_deadline")))
        case .progress:
            payload = .progress(Progress(fraction: try r.double("fraction"), message: try r.text("message"),
                                         leaseDeadline: try r.timestamp("lease_deadline"),
                                         attempt: try r.optionalInt("attempt", in: PayloadRules.attempts)))
        case .lowres:
            payload = .lowres(Lowres(asset: try r.asset("asset", required: true)!,
                                     attempt: try r.optionalInt("attempt", in: PayloadRules.attempts)))
        case .completed:
            payload = .completed(Completed(asset: try r.asset("asset", required: false), output: r.optional("output"),
                                           attempt: try r.optionalInt("attempt", in: PayloadRules.attempts)))
        case .failed:
            payload = .failed(Failed(
                code: try r.name("code"),
                message: try r.text("message") ?? "",
                retryable: try r.bool("retryable"),
                attempt: try r.int("attempt", default: nil, in: PayloadRules.attempts),
                retryAt: try r.timestamp("retry_at")))
        case .canceled:
            payload = .canceled(Canceled(reason: try r.text("reason") ?? ""))
        }
        try r.finish()
        try payload.validate()  // the rules that are not about JSON shape (e.g. time range)
        return payload
    }
}

/// Reads typed fields out of a payload object, remembering which keys were used.
private struct FieldReader {
    let type: EventType
    let object: [String: JSONValue]
    /// How many of the object's keys were read; fewer than it has means an unknown field.
    var present = 0

    init(type: EventType, object: [String: JSONValue]) { self.type = type; self.object = object }

    func fail(_ reason: String) -> PayloadError { PayloadError(type: type, reason: reason) }

    static let fields: [EventType: [String]] = [
        .queued: ["kind", "input", "priority", "max_attempts", "run_at"],
        .started: ["worker", "attempt", "lease_deadline"],
        .progress: ["attempt", "fraction", "message", "lease_deadline"],
        .lowres: ["asset", "attempt"],
        .completed: ["asset", "attempt", "output"],
        .failed: ["code", "message", "retryable", "attempt", "retry_at"],
        .canceled: ["reason"],
    ]

    mutating func optional(_ key: String) -> JSONValue? {
        guard let v = object[key] else { return nil }
        present += 1
        if v.isNull { return nil }
        return v
    }

    /// A required short identifier-like string (kind, worker, error code): 1…200 characters.
    mutating func name(_ key: String) throws(PayloadError) -> String {
        guard let v = optional(key) else { throw fail("missing field '\(key)'") }
        guard let s = v.stringValue else { throw fail("'\(key)' must be a string, got \(v.typeName)") }
        guard !s.isEmpty, s.utf8.count <= 200 else { throw fail("'\(key)' must be 1…200 bytes long") }
        return s
    }

    mutating func text(_ key: String) throws(PayloadError) -> String? {
        guard let v = optional(key) else { return nil }
        guard let s = v.stringValue else { throw fail("'\(key)' must be a string, got \(v.typeName)") }
        return s
    }

    mutating func int(_ key: String, default def: Int?, in range: ClosedRange<Int>) throws(PayloadError) -> Int {
        guard let v = optional(key) else {
            if let def { return def }
            throw fail("missing field '\(key)'")
        }
        return try wholeNumber(key, v, in: range)
    }

    /// An optional whole number in `range`; null or absent gives nil.
    mutating func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(PayloadError) -> Int? {
        guard let v = optional(key) else { return nil }
        return try wholeNumber(key, v, in: range)
    }

    func wholeNumber(_ key: String, _ v: JSONValue, in range: ClosedRange<Int>) throws(PayloadError) -> Int {
        guard let i = v.intValue, let n = Int(exactly: i) else { throw fail("'\(key)' must be a whole number, got \(v.canonicalText)") }
        guard range.contains(n) else { throw fail("'\(key)' must be in \(range.lowerBound)…\(range.upperBound), got \(n)") }
        return n
    }

    mutating func double(_ key: String) throws(PayloadError) -> Double {
        guard let v = optional(key) else { throw fail("missing field '\(key)'") }
        guard let d = v.doubleValue else { throw fail("'\(key)' must be a number, got \(v.typeName)") }
        return d
    }

    mutating func bool(_ key: String) throws(PayloadError) -> Bool {
        guard let v = optional(key) else { throw fail("missing field '\(key)'") }
        guard let b = v.boolValue else { throw fail("'\(key)' must be true or false, got \(v.typeName)") }
        return b
    }

    mutating func timestamp(_ key: String) throws(PayloadError) -> Timestamp? {
        guard let v = optional(key) else { return nil }
        if let s = v.stringValue, let t = Timestamp(iso8601: s) { return t }
        throw fail("'\(key)' must be an ISO-8601 UTC time like 2026-11-29T12:00:00.000Z, got \(v.canonicalText)")
    }

    mutating func requiredTimestamp(_ key: String) throws(PayloadError) -> Timestamp {
        guard let t = try timestamp(key) else { throw fail("missing field '\(key)'") }
        return t
    }

    mutating func asset(_ key: String, required: Bool) throws(PayloadError) -> AssetRef? {
        guard let v = optional(key) else {
            if required { throw fail("missing field '\(key)'") }
            return nil
        }
        guard case .object(let a) = v else { throw fail("'\(key)' must be an object {sha256, size, content_type}") }
        guard let sha = a["sha256"]?.stringValue, sha.utf8.count == 64,
              sha.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { throw fail("'\(key).sha256' must be 64 lowercase hex digits") }
        guard let size = a["size"]?.intValue, size >= 0 else { throw fail("'\(key).size' must be a whole number ≥ 0") }
        guard let ct = a["content_type"]?.stringValue, !ct.isEmpty, ct.utf8.count <= 200 else {
            throw fail("'\(key).content_type' must be a non-empty string")
        }
        let extra = Set(a.keys).subtracting(["sha256", "size", "content_type"])
        guard extra.isEmpty else { throw fail("unknown field '\(key).\(extra.sorted()[0])'") }
        return AssetRef(sha256: sha, size: size, contentType: ct)
    }

    func finish() throws(PayloadError) {
        guard present < object.count else { return }
        let known = FieldReader.fields[type] ?? []
        let extra = object.keys.filter { !known.contains($0) }.sorted()
        throw fail("unknown field '\(extra.first ?? "?")' (fields of \(type): \(known.sorted().joined(separator: ", ")))")
    }
}

/// Writes a JSON object whose keys the caller gives in sorted order.
private struct CanonicalWriter {
    var out: [UInt8] = {
        var b: [UInt8] = []
        b.reserveCapacity(160)  // one allocation (an array literal first would make two)
        b.append(UInt8(ascii: "{"))
        return b
    }()
    var first = true

    mutating func key(_ k: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ k: StaticString, _ v: String) { key(k); JSONValue.writeString(v, to: &out) }
    mutating func int(_ k: StaticString, _ v: Int) { key(k); JSONValue.writeInt(Int64(v), to: &out) }
    mutating func value(_ k: StaticString, _ v: JSONValue) { key(k); v.write(to: &out) }
    mutating func finish() -> [UInt8] { out.append(UInt8(ascii: "}")); return out }
}
