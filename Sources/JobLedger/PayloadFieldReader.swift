/// Reads typed fields out of a payload object, remembering which keys were used.
struct PayloadFieldReader {
    let type: EventType
    let object: [String: JSONValue]
    /// How many of the object's keys were read; fewer than it has means an unknown field.
    var present = 0

    init(type: EventType, object: [String: JSONValue]) { self.type = type; self.object = object }

    func fail(_ reason: String) -> PayloadError { PayloadError(type: type, reason: reason) }

    static let fields: [EventType: [String]] = [
        .queued: ["kind", "input", "priority", "max_attempts", "run_at", "owner"],
        .started: ["worker", "attempt", "lease_deadline"],
        .progress: ["attempt", "fraction", "message", "lease_deadline"],
        .lowres: ["asset", "attempt"],
        .completed: ["asset", "attempt", "output"],
        .failed: ["code", "message", "retryable", "attempt", "retry_at", "refunds_attempt"],
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

    /// A name that may be absent: nil, or 1…200 bytes.
    mutating func optionalName(_ key: String) throws(PayloadError) -> String? {
        guard let v = object[key], !v.isNull else { _ = optional(key); return nil }  // a null counts as present
        return try name(key)
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
        guard let i = v.intValue, let n = Int(exactly: i) else {
            // A whole number too large to hold (1e16) is out of the range, not a fraction.
            if let d = v.doubleValue, d.isFinite, d.rounded() == d {
                throw fail("'\(key)' must be in \(range.lowerBound)…\(range.upperBound), got \(v.canonicalText)")
            }
            throw fail("'\(key)' must be a whole number, got \(v.canonicalText)")
        }
        guard range.contains(n) else { throw fail("'\(key)' must be in \(range.lowerBound)…\(range.upperBound), got \(n)") }
        return n
    }

    mutating func double(_ key: String) throws(PayloadError) -> Double {
        guard let v = optional(key) else { throw fail("missing field '\(key)'") }
        guard let d = v.doubleValue else { throw fail("'\(key)' must be a number, got \(v.typeName)") }
        return d
    }

    mutating func bool(_ key: String) throws(PayloadError) -> Bool {
        guard let b = try optionalBool(key) else { throw fail("missing field '\(key)'") }
        return b
    }

    mutating func optionalBool(_ key: String) throws(PayloadError) -> Bool? {
        guard let v = optional(key) else { return nil }
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
        let known = PayloadFieldReader.fields[type] ?? []
        let extra = object.keys.filter { !known.contains($0) }.sorted()
        throw fail("unknown field '\(extra.first ?? "?")' (fields of \(type): \(known.sorted().joined(separator: ", ")))")
    }
}
