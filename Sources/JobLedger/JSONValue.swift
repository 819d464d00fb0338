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
    /// Any other (finite) number.
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

// MARK: - Parsing

/// JSON text that could not be parsed; says where and why.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// Byte offset in the text where parsing stopped.
    public let offset: Int
    /// What was wrong there.
    public let reason: String
    /// `malformed JSON at byte N: reason`.
    public var description: String { "malformed JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// The deepest nesting accepted, so hostile input cannot exhaust the stack.
    public static let maxDepth = 64

    /// Parses one JSON document (RFC 8259); trailing content other than white space is an error.
    public init(parsing text: String) throws(JSONParseError) {
        var text = text
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { buffer in
            var parser = Parser(bytes: buffer)
            do throws(JSONParseError) {
                parser.skipSpace()
                let v = try parser.value(depth: 0)
                parser.skipSpace()
                guard parser.i == buffer.count else { throw parser.fail("unexpected content after the value") }
                return .success(v)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth < JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth) levels") }
            guard i < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var object: [String: JSONValue] = [:]
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    guard object[key] == nil else { throw fail("duplicate key \"\(key)\"") }
                    object[key] = try value(depth: depth + 1)
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of input in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var array: [JSONValue] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                while true {
                    skipSpace()
                    array.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of input in an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[i])))'")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let n = word.utf8CodeUnitCount
            guard i + n <= bytes.count else { throw fail("unexpected end of input") }
            for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("invalid literal") }
            i += n
        }

        mutating func number() throws(JSONParseError) -> JSONValue {
            let start = i
            var isInteger = true
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 else { throw fail("invalid number") }
            if bytes[i] == 48 {
                i += 1
                if i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { throw fail("leading zeros are not allowed") }
            } else {
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                guard i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 else { throw fail("invalid number") }
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                isInteger = false
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 else { throw fail("invalid number") }
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            if isInteger, let v = Int64(text) { return .int(v) }
            guard let d = Double(text), d.isFinite else { throw JSONParseError(offset: start, reason: "number out of range") }
            return .double(d)
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw fail("invalid \\u escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        mutating func string() throws(JSONParseError) -> String {
            i += 1  // opening quote
            let start = i
            // Fast path: no escapes.
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in a string") }
                i += 1
            }
            var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<i]))
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    throw fail("invalid escape")
                }
            }
            throw fail("unterminated string")
        }
    }
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

// MARK: - Codable, and the bridge to Codable types

/// A `JSONValue` encodes and decodes as the JSON it is, so it can be a field of a `Codable`
/// type (a typed job's input may carry free-form JSON).
extension JSONValue: Codable {
    /// Decodes whatever JSON value the decoder holds.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value") }
    }

    /// Encodes the value as the JSON it is.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// The JSON form of any `Encodable` value, as `encoder` writes it: how a typed job's input
    /// and output travel in the log's payloads.
    ///
    /// ```swift
    /// struct Poster: Codable { var prompt: String; var size: Int }
    /// let json = try JSONValue(encoding: Poster(prompt: "a red bicycle", size: 512))
    /// // json == ["prompt": "a red bicycle", "size": 512]
    /// ```
    ///
    /// Throws the encoder's `EncodingError` (a non-finite `Double`, say), or a
    /// `JSONParseError` when the value nests deeper than `JSONValue.maxDepth`.
    public init<T: Encodable>(encoding value: T, using encoder: JSONEncoder = JSONEncoder()) throws {
        let data = try encoder.encode(value)
        self = try JSONValue(parsing: String(decoding: data, as: UTF8.self))
    }

    /// This JSON decoded as a `Decodable` type, by `decoder`; the inverse of
    /// `init(encoding:using:)`. Throws the decoder's `DecodingError` when it does not fit
    /// (`JSONValue.decodingFailureSummary(_:)` says why in one line).
    ///
    /// ```swift
    /// let poster = try json.decode(as: Poster.self)
    /// ```
    public func decode<T: Decodable>(as type: T.Type = T.self, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(canonicalText.utf8))
    }

    /// One line saying why a value did not decode: which field, and what was wrong with it
    /// (`missing field 'size'`, `field 'size': Expected to decode Int but found a string instead.`). Any other error
    /// is described as it describes itself.
    public static func decodingFailureSummary(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func path(_ codingPath: [any CodingKey]) -> String {
            var p = ""
            for key in codingPath {
                if let i = key.intValue { p += "[\(i)]" } else { p += (p.isEmpty ? "" : ".") + key.stringValue }
            }
            return p
        }
        func at(_ c: DecodingError.Context) -> String { c.codingPath.isEmpty ? "the value" : "field '\(path(c.codingPath))'" }
        switch error {
        case .keyNotFound(let key, let c):
            return "missing field '\(path(c.codingPath + [key]))'"
        case .valueNotFound(let type, let c):
            return "\(at(c)): expected \(type), found null"
        case .typeMismatch(let type, let c):
            return "\(at(c)): " + (c.debugDescription.isEmpty ? "expected \(type)" : c.debugDescription)
        case .dataCorrupted(let c):
            return "\(at(c)): \(c.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }
}
