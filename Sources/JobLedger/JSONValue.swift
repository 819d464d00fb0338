import Foundation

/// A JSON document: job inputs and outputs, and every event payload on its way to and from the
/// log. Serialised canonically (keys sorted, no white space), so equal values give equal text
/// and equal digests.
///
/// ```swift
/// let input: JSONValue = ["prompt": "a red bicycle", "size": 512, "tags": ["poster"]]
/// input["size"]?.intValue        // 512
/// input.canonicalText            // {"prompt":"a red bicycle","size":512,"tags":["poster"]}
/// try JSONValue(parsing: #"{"a":1}"#)
/// ```
///
/// Typed values cross over with `JSONValue(encoding:)` and `decode(as:)`.
public enum JSONValue: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other (finite) number. NaN and ±infinity have no JSON text: an event payload holding
    /// one is refused (`EventPayload.validate()`), and `canonicalText` writes one as `null`.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; keys are unique, their order is not kept (canonical text sorts them).
    case object([String: JSONValue])

    /// The value at `key` of an object; nil when absent or when this is not an object.
    ///
    /// ```swift
    /// let prompt = ctx.input["prompt"]?.stringValue
    /// ```
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The string, or nil for any other type.
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// The boolean, or nil for any other type.
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The number as an integer: an `int`, or a `double` with no fraction (below 9e15); nil otherwise.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }
    /// The number as a `Double` (`int` or `double`); nil for any other type.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    /// True for JSON `null`.
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Short name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: - Serialising

extension JSONValue {
    /// Canonical JSON text: object keys sorted by their UTF-8 bytes, no white space.
    public var canonicalText: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the canonical text to `out`.
    public func write(to out: inout String) {
        var bytes: [UInt8] = []
        write(to: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the canonical text to `out` as UTF-8 (building bytes, not a String, is what
    /// keeps encoding cheap: this is on every append's path).
    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): JSONValue.writeInt(Int64(i), to: &out)
        case .double(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 {
                JSONValue.writeInt(Int64(d), to: &out)
            } else {
                out.append(contentsOf: (d.isFinite ? d.description : "null").utf8)
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits of an integer, appended as UTF-8 (the same text as `String(value)`).
    package static func writeInt(_ value: Int64, to out: inout [UInt8]) {
        withDecimalText(value) { out.append(contentsOf: $0) }
    }

    /// Calls `body` with the decimal text of `value` (the same text as `String(value)`), built
    /// on the stack: the one integer formatter of the canonical JSON and the hash chain.
    package static func withDecimalText<R>(_ value: Int64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        // Digits come out last first: fill a 24-byte tuple from its end, sign last.
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { b in
            var m = value.magnitude, i = b.count
            repeat { i -= 1; b[i] = UInt8(truncatingIfNeeded: 48 &+ m % 10); m /= 10 } while m > 0
            if value < 0 { i -= 1; b[i] = UInt8(ascii: "-") }
            return body(UnsafeRawBufferPointer(rebasing: b[i...]))
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escaping: check and copy them as one contiguous UTF-8 buffer.
        var text = s
        let plain = text.withUTF8 { u -> Bool in
            for b in u where b < 0x20 || b == 0x22 || b == 0x5C { return false }
            out.append(contentsOf: u)
            return true
        }
        if !plain {
            for b in s.utf8 {
                switch b {
                case 0x22: out.append(contentsOf: "\\\"".utf8)
                case 0x5C: out.append(contentsOf: "\\\\".utf8)
                case 0x0A: out.append(contentsOf: "\\n".utf8)
                case 0x0D: out.append(contentsOf: "\\r".utf8)
                case 0x09: out.append(contentsOf: "\\t".utf8)
                case 0x08: out.append(contentsOf: "\\b".utf8)
                case 0x0C: out.append(contentsOf: "\\f".utf8)
                case ..<0x20:
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hexDigit(b >> 4)); out.append(hexDigit(b & 0x0F))
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? 48 + n : 87 + n }
}

// MARK: - Literals, so inputs read naturally: `["prompt": "a cat", "size": 512]`

extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    /// `["prompt": "a cat"]`; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    /// `[1, "two", .null]`.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// `"text"`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// `42`.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// `0.5`.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// `true`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
