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
            if let owner = q.owner { o["owner"] = .string(owner) }
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
            if f.refundsAttempt { o["refunds_attempt"] = .bool(true) }
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
        var w = PayloadCanonicalWriter()
        switch self {
        case .queued(let q):
            w.value("input", q.input)
            w.string("kind", q.kind)
            w.int("max_attempts", q.maxAttempts)
            if let owner = q.owner { w.string("owner", owner) }
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
            if f.refundsAttempt { w.value("refunds_attempt", .bool(true)) }
            if let r = f.retryAt { w.string("retry_at", r.iso8601) }
            w.value("retryable", .bool(f.retryable))
        case .canceled(let c):
            w.string("reason", c.reason)
        }
        return w.finish()
    }

    /// Reads a payload of the given type from JSON text. Absent optional fields take their
    /// defaults (queued: input `{}`, priority 0, max_attempts 3, no owner; failed: refunds_attempt
    /// false); unknown fields are refused.
    /// `exactNumbers`: as `JSONValue(parsing:exactNumbers:)` (false for a payload already stored).
    public static func decode(type: EventType, text: String, exactNumbers: Bool = true) throws(PayloadError) -> EventPayload {
        let json: JSONValue
        do { json = try JSONValue(parsing: text, exactNumbers: exactNumbers) } catch {
            throw PayloadError(type: type, reason: error.description)
        }
        return try decode(type: type, json: json)
    }

    /// Reads a payload of the given type from parsed JSON; the same rules as `decode(type:text:)`.
    public static func decode(type: EventType, json: JSONValue) throws(PayloadError) -> EventPayload {
        guard case .object(let o) = json else {
            throw PayloadError(type: type, reason: "expected a JSON object, got \(json.typeName)")
        }
        var r = PayloadFieldReader(type: type, object: o)
        let payload: EventPayload
        switch type {
        case .queued:
            payload = .queued(Queued(
                kind: try r.name("kind"),
                input: r.optional("input") ?? .object([:]),
                priority: try r.int("priority", default: 0, in: PayloadRules.priority),
                maxAttempts: try r.int("max_attempts", default: 3, in: PayloadRules.attempts),
                runAt: try r.timestamp("run_at"),
                owner: try r.optionalName("owner")))
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
                retryAt: try r.timestamp("retry_at"),
                refundsAttempt: try r.optionalBool("refunds_attempt") ?? false))
        case .canceled:
            payload = .canceled(Canceled(reason: try r.text("reason") ?? ""))
        }
        try r.finish()
        try payload.validateFields()  // the rules that are not about JSON shape (e.g. time range)
        return payload
    }
}
