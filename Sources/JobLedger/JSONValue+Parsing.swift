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
    /// With `exactNumbers` (the default, for input), a whole number beyond 64 bits or a non-zero
    /// number a double would store as 0 is refused; without it (JSON someone else wrote, such as
    /// a token's claims, or a row already in the log), the first becomes the nearest double and
    /// the second 0.
    ///
    /// `enclosingLevels`: how many levels of the text are a wrapper around the values the limit
    /// is for (an export line is one object around a payload): the text may nest that much
    /// deeper than `maxDepth`, and an error still names `maxDepth`.
    public init(parsing text: String, exactNumbers: Bool = true, enclosingLevels: Int = 0) throws(JSONParseError) {
        var text = text
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { buffer in
            var parser = Parser(bytes: buffer, exactNumbers: exactNumbers, enclosingLevels: max(0, enclosingLevels))
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
        let exactNumbers: Bool
        let enclosingLevels: Int
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>, exactNumbers: Bool, enclosingLevels: Int) {
            self.bytes = bytes
            self.exactNumbers = exactNumbers
            self.enclosingLevels = enclosingLevels
        }

        func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

        /// Why `key` cannot join `object`, which holds it already: the same key twice, or two
        /// keys that differ only in their Unicode normalization (`"\u00e9"` and `"e\u0301"`),
        /// which a Swift dictionary holds as one key: refused as such, not taken as either.
        static func duplicateKey(_ key: String, in object: [String: JSONValue]) -> String {
            guard let held = object.index(forKey: key).map({ object[$0].key }), !held.utf8.elementsEqual(key.utf8) else {
                return "duplicate key \"\(key)\""
            }
            func scalars(_ s: String) -> String { s.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true).leftPadded(to: 4) }.joined(separator: " ") }
            return "keys \"\(held)\" (\(scalars(held))) and \"\(key)\" (\(scalars(key))) differ only in Unicode normalization; an object cannot hold both"
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth < JSONValue.maxDepth + enclosingLevels else {
                throw fail(enclosingLevels == 0 ? "nested deeper than \(JSONValue.maxDepth) levels"
                           : "nested deeper than \(JSONValue.maxDepth) levels below the outer \(enclosingLevels == 1 ? "value" : "\(enclosingLevels) levels")")
            }
            guard i < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object([:]) }
                // Made at its size once the object has a second member (room for 6, the members
                // of most payloads), not grown member by member: each doubling rehashed it, and
                // that was a third of parsing a typical payload. An object of one member gets a
                // dictionary of one (what an input held for every job in flight often is).
                var object: [String: JSONValue] = [:]
                var first: (key: String, value: JSONValue)?
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    let at = i
                    let member = try value(depth: depth + 1)
                    if object.isEmpty, first == nil {
                        first = (key, member)
                    } else {
                        if let f = first.take() {
                            object = Dictionary(minimumCapacity: 6)
                            object[f.key] = f.value
                        }
                        // One lookup: a key already there is found as the value goes in.
                        guard object.updateValue(member, forKey: key) == nil else {
                            throw JSONParseError(offset: at, reason: Self.duplicateKey(key, in: object))
                        }
                    }
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of input in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") {
                        i += 1
                        if let f = first { return .object([f.key: f.value]) }
                        return .object(object)
                    }
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
            // With exactNumbers a number is kept exactly or refused, never quietly changed: a
            // whole number is a 64-bit integer (an id past that would come back as another
            // number), any other a double, which must not round a non-zero value to 0.
            if isInteger, let v = Int64(text) { return .int(v) }
            if isInteger, exactNumbers {
                throw JSONParseError(offset: start, reason: "integer out of range: a whole number must fit in 64 bits (±9223372036854775807); send a larger one as a string")
            }
            guard let d = Double(text), d.isFinite else { throw JSONParseError(offset: start, reason: "number out of range") }
            if exactNumbers, d == 0, text.utf8.prefix(while: { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }).contains(where: { $0 >= 49 && $0 <= 57 }) {
                throw JSONParseError(offset: start, reason: "number out of range: \(text) is too close to zero for a double and would be stored as 0")
            }
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
