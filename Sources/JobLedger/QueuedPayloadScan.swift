/// What a job engine's claim index needs from a `queued` payload (its kind, priority and
/// run-at), read straight from the payload's stored JSON text without decoding its input.
///
/// It reads only the canonical form that `EventPayload.canonicalBytes` writes —
/// `{"input":…,"kind":"…","max_attempts":n,"owner":"…","priority":n,"run_at":"…"}`, keys in this
/// order, no spaces, `owner` and `run_at` optional — and only values that pass the rules
/// decoding enforces. Anything
/// else (a hand-edited payload, an escaped kind, a number written as `1.0`) gives nil, and the
/// caller decodes the payload in full, which accepts what is valid and names what is not.
package struct QueuedPayloadScan: Sendable, Equatable {
    package var kind: String
    package var priority: Int
    package var runAt: Timestamp?

    package init(kind: String, priority: Int, runAt: Timestamp?) {
        self.kind = kind
        self.priority = priority
        self.runAt = runAt
    }

    /// Reads `text` (a `queued` payload's UTF-8), or nil when it is not in the canonical form.
    package init?(_ text: UnsafeBufferPointer<UInt8>) {
        var r = Reader(b: text)
        guard r.literal("{\"input\":"), r.skipValue(),
              r.literal(",\"kind\":"), let kindBytes = r.plainString(), PayloadRules.nameBytes.contains(kindBytes.count),
              r.literal(",\"max_attempts\":"), let attempts = r.integer(), PayloadRules.attempts.contains(attempts),
              r.owner(),
              r.literal(",\"priority\":"), let priority = r.integer(), PayloadRules.priority.contains(priority)
        else { return nil }
        var runAt: Timestamp?
        if r.literal(",\"run_at\":") {
            guard let t = r.plainString(), let time = Timestamp(iso8601: t), PayloadRules.time.contains(time.milliseconds)
            else { return nil }
            runAt = time
        }
        guard r.literal("}"), r.i == text.count else { return nil }
        self.init(kind: String(decoding: kindBytes, as: UTF8.self), priority: priority, runAt: runAt)
    }

    private struct Reader {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        /// Consumes `s` when the text continues with it.
        mutating func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard b.count - i >= n else { return false }
            let p = s.utf8Start
            for k in 0..<n where b[i + k] != p[k] { return false }
            i += n
            return true
        }

        /// An optional owner (`"owner":"…"`, a plain string of 1…200 bytes); false when the text
        /// has one that the fast path cannot take (escapes, a bad length).
        mutating func owner() -> Bool {
            guard literal(",\"owner\":") else { return true }
            guard let o = plainString(), PayloadRules.nameBytes.contains(o.count) else { return false }
            return true
        }

        /// A string without escapes: its bytes between the quotes.
        mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            let start = i + 1
            var k = start
            while k < b.count {
                switch b[k] {
                case UInt8(ascii: "\""):
                    i = k + 1
                    return UnsafeBufferPointer(rebasing: b[start..<k])
                case UInt8(ascii: "\\"), 0..<0x20: return nil
                default: k += 1
                }
            }
            return nil
        }

        /// A whole number as the canonical writer writes it: an optional minus and at most
        /// seven digits (the rules' ranges need no more).
        mutating func integer() -> Int? {
            var k = i, negative = false
            if k < b.count, b[k] == UInt8(ascii: "-") { negative = true; k += 1 }
            var v = 0, digits = 0
            while k < b.count, b[k] >= 48, b[k] <= 57, digits <= 7 {
                v = v * 10 + Int(b[k] - 48)
                digits += 1
                k += 1
            }
            guard digits >= 1, digits <= 7 else { return nil }
            // Not a fraction or an exponent, and no leading zero.
            if k < b.count, b[k] == UInt8(ascii: ".") || b[k] == UInt8(ascii: "e") || b[k] == UInt8(ascii: "E") { return nil }
            if digits > 1, b[k - digits] == 48 { return nil }
            i = k
            return negative ? -v : v
        }

        /// Skips one JSON value. The text is valid JSON (the log's CHECK holds it to that), so
        /// only strings and nesting need tracking; false when it runs past the end.
        mutating func skipValue() -> Bool {
            var k = i, depth = 0
            repeat {
                guard k < b.count else { return false }
                switch b[k] {
                case UInt8(ascii: "\""):
                    k += 1
                    while k < b.count, b[k] != UInt8(ascii: "\"") { k += b[k] == UInt8(ascii: "\\") ? 2 : 1 }
                    k += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    k += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    k += 1
                default:
                    // A number, true, false or null: up to the next delimiter.
                    if depth == 0 {
                        while k < b.count, b[k] != UInt8(ascii: ","), b[k] != UInt8(ascii: "}") { k += 1 }
                    } else {
                        k += 1
                    }
                }
            } while depth > 0
            guard depth == 0, k <= b.count else { return false }
            i = k
            return true
        }
    }
}
