import Foundation

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
