import Foundation
import JobLedger

/// One reply value from Upstash Redis, as the REST API returns it (RESP2-shaped): null, an
/// integer, a string of bytes (binary-safe: the client asks for base64 and decodes it), or an
/// array of those.
public enum RedisValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case bytes(Data)
    case array([RedisValue])

    /// The value as UTF-8 text (bytes), or the integer in decimal; nil otherwise or for invalid UTF-8.
    public var string: String? {
        switch self {
        case .bytes(let d): String(data: d, encoding: .utf8)
        case .integer(let i): String(i)
        default: nil
        }
    }

    /// The value as a whole number: an integer reply, or a string that holds one.
    public var int: Int64? {
        switch self {
        case .integer(let i): i
        case .bytes(let d): String(data: d, encoding: .utf8).flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply; nil for any other value.
    public var array: [RedisValue]? { if case .array(let a) = self { return a }; return nil }
    /// True for a null reply (a missing key, a missing field).
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// A flat `[field, value, field, value …]` reply (HGETALL, stream entry fields) as a dictionary
    /// of texts; nil when it is not one.
    public var fieldMap: [String: String]? {
        guard let a = array, a.count % 2 == 0 else { return nil }
        var out: [String: String] = [:]
        var i = 0
        while i < a.count {
            guard let k = a[i].string, let v = a[i + 1].string else { return nil }
            out[k] = v
            i += 2
        }
        return out
    }

    /// As `redis-cli` shows it: `nil`, `(integer) 1`, `"text"` (`<n bytes>` when not UTF-8), `[…]`.
    public var description: String {
        switch self {
        case .null: "nil"
        case .integer(let i): "(integer) \(i)"
        case .bytes(let d): String(data: d, encoding: .utf8).map { "\"\($0)\"" } ?? "<\(d.count) bytes>"
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }

    /// Decodes a `result` sent with `Upstash-Encoding: base64`, exactly as the SDKs do: the
    /// literal `OK` stays `OK`, every other string is base64 (kept as the raw text when it is
    /// not, as @upstash/redis does), integers and null as they are, arrays element by element.
    /// Anything else (a float, a boolean, an object) is not a Redis reply: nil.
    public static func decodeBase64Result(_ json: JSONValue) -> RedisValue? {
        switch json {
        case .null: return .null
        case .int(let i): return .integer(i)
        case .double(let d): return d.rounded() == d && abs(d) < 9e15 ? .integer(Int64(d)) : nil
        case .string(let s):
            if s == "OK" { return .bytes(Data("OK".utf8)) }
            return .bytes(Data(base64Encoded: s) ?? Data(s.utf8))
        case .array(let a):
            var out: [RedisValue] = []
            out.reserveCapacity(a.count)
            for e in a {
                guard let v = decodeBase64Result(e) else { return nil }
                out.append(v)
            }
            return .array(out)
        case .bool, .object: return nil
        }
    }
}
