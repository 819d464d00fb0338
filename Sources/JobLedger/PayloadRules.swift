/// The limits every payload obeys, whether decoded from JSON or built in Swift.
package enum PayloadRules {
    static let nameBytes = 1...200
    static let priority = -1_000_000...1_000_000
    static let attempts = 1...1000
    /// Years 0001…9999, the range ISO-8601 text can carry.
    package static let time = Int64(-62_135_596_800_000)...Int64(253_402_300_799_999)
}

extension EventPayload {
    /// Checks the payload against the rules decoding enforces, so a payload built in Swift
    /// can always be read back. Throws a `PayloadError` naming the field: a name, number or
    /// time out of range, or a number in `input` or `output` that JSON cannot carry (NaN,
    /// ±infinity), which would otherwise be stored as `null`.
    ///
    /// ```swift
    /// try EventPayload.queued(.init(kind: "design", input: ["scale": .double(.nan)])).validate()
    /// // throws: invalid queued payload: 'input.scale' must be a finite number, got nan
    /// ```
    public func validate() throws(PayloadError) {
        try validateFields()
        let json: (String, JSONValue)? = switch self {
        case .queued(let q): ("input", q.input)
        case .completed(let c): c.output.map { ("output", $0) }
        case .started, .progress, .lowres, .failed, .canceled: nil
        }
        guard let (root, value) = json else { return }
        // One walk for both rules (this runs on every append); the path of a bad number is
        // worked out only when there is one.
        // The payload's own object is one level: parsed back from its text (a read, an export
        // line's payload), a deeper value would be refused.
        let scan = value.scan(deeperThan: JSONValue.maxDepth - 2)
        if scan.nonFinite, let bad = value.firstNonFiniteNumber(under: root) {
            throw PayloadError(type: type, reason: "'\(bad.path)' must be a finite number, got \(bad.value)")
        }
        if scan.tooDeep {
            throw PayloadError(type: type, reason: "'\(root)' is nested deeper than a payload may be (\(JSONValue.maxDepth) levels of JSON, counting the payload's own object)")
        }
    }

    /// The rules `validate()` checks but numbers: all a payload decoded from JSON text needs,
    /// since parsing refuses a number that is not finite.
    func validateFields() throws(PayloadError) {
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
            if let owner = q.owner { try name("owner", owner) }
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
            if f.refundsAttempt && !f.retryable { throw fail("'refunds_attempt' is only for a retryable failure") }
        case .canceled:
            break
        }
    }
}

extension JSONValue {
    /// In one walk: whether any number inside is NaN or ±infinity (which JSON cannot carry), and
    /// whether a value inside lies more than `levels` levels below this one (a scalar or an
    /// empty array or object adds none).
    func scan(deeperThan levels: Int) -> (nonFinite: Bool, tooDeep: Bool) {
        switch self {
        case .double(let d): return (!d.isFinite, false)
        case .null, .bool, .int, .string: return (false, false)
        case .array(let a): return Self.scan(a, deeperThan: levels)
        case .object(let o): return Self.scan(o.values, deeperThan: levels)
        }
    }

    private static func scan<C: Collection<JSONValue>>(_ children: C, deeperThan levels: Int) -> (nonFinite: Bool, tooDeep: Bool) {
        var result = (nonFinite: false, tooDeep: levels == 0 && !children.isEmpty)
        for child in children {
            let s = child.scan(deeperThan: max(0, levels - 1))
            result.nonFinite = result.nonFinite || s.nonFinite
            result.tooDeep = result.tooDeep || s.tooDeep
            if result.nonFinite && result.tooDeep { break }
        }
        return result
    }
}

extension EventPayload {
    /// The rules a new event's artefact meets beyond `validate()`: its content type goes out as
    /// an HTTP header (the blob store's upload, a served blob), so it is a media type in
    /// printable ASCII (`"image/png\n"` was taken). Checked on append only: a log written
    /// before stays readable, and its export imports.
    package func checkNewAsset() throws(PayloadError) {
        let asset: AssetRef? = switch self {
        case .lowres(let l): l.asset
        case .completed(let c): c.asset
        case .queued, .started, .progress, .failed, .canceled: nil
        }
        if let asset, !asset.contentType.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            throw PayloadError(type: type, reason: "'asset.content_type' must be a media type in printable ASCII, such as image/png (no control characters or line breaks)")
        }
    }
}
