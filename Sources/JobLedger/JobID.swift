import Foundation
import Synchronization

/// Identifies one job for its whole life. Generated ids are time-ordered (UUIDv7 text), so
/// sorting ids sorts jobs by creation time; ids given by operators may be any short token.
///
/// ```swift
/// let job = try await engine.submit(kind: "design")   // a generated id, 019…-…
/// let mine = try JobID("order-42:poster")              // checked: throws InvalidJobID if not an id
/// ```
public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The id as text: what the log, the CLI and URLs show.
    public let rawValue: String

    /// The longest id accepted, in bytes.
    public static let maxLength = 128

    /// Accepts 1…128 characters from `A-Z a-z 0-9 - _ . :`, not made only of dots; anything else
    /// is refused, so an id is always safe as one path segment (blob pathnames are
    /// `jobs/<id>/…`: `.` and `..` would climb out of a job's folder, and an all-dot name is
    /// mangled by some file systems), in a URL, a stream name or a log line. Every id read from a
    /// log, an import or an operator goes through this check.
    public init(_ rawValue: String) throws(InvalidJobID) {
        let bytes = rawValue.utf8
        guard !bytes.isEmpty, bytes.count <= Self.maxLength else { throw InvalidJobID(text: rawValue) }
        // One pass (every id read from a log comes through here): allowed bytes, not only dots.
        var onlyDots = true
        for b in bytes {
            guard JobID.isAllowed(b) else { throw InvalidJobID(text: rawValue) }
            if b != UInt8(ascii: ".") { onlyDots = false }
        }
        guard !onlyDots else { throw InvalidJobID(text: rawValue) }
        self.rawValue = rawValue
    }

    /// Only for text built here (`generate`), which is valid by construction.
    private init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// A new time-ordered id (UUIDv7: 48 bits of Unix milliseconds, then 74 bits that are
    /// random for the first id of a millisecond). The ids one process generates are strictly
    /// increasing: another id in the same millisecond, or at an earlier one (a clock set back),
    /// keeps the previous id's millisecond and its random bits plus one (RFC 9562 §6.2,
    /// `JobIDSequence`), so jobs submitted in one millisecond sort, and are claimed, in the
    /// order they were submitted.
    ///
    /// ```swift
    /// let t = Timestamp.now
    /// let a = JobID.generate(at: t), b = JobID.generate(at: t)   // a < b
    /// ```
    public static func generate(at time: Timestamp = .now) -> JobID {
        let fields = sequence.withLock { s in
            var rng = SystemRandomNumberGenerator()
            return s.next(at: time, using: &rng)
        }
        return JobID(uuidV7: fields)
    }

    /// The next id of `sequence` at `time`, for tests that need a sequence of their own.
    static func generate(at time: Timestamp, in sequence: inout JobIDSequence) -> JobID {
        var rng = SystemRandomNumberGenerator()
        return JobID(uuidV7: sequence.next(at: time, using: &rng))
    }

    /// The process's sequence of generated ids.
    private static let sequence = Mutex(JobIDSequence())

    /// The UUIDv7 text of the fields, in lowercase hex.
    private init(uuidV7 f: (ms: UInt64, randA: UInt64, randB: UInt64)) {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: f.ms >> (8 * (5 - UInt64(i)))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: f.randA >> 8)  // version 7
        bytes[7] = UInt8(truncatingIfNeeded: f.randA)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: f.randB >> 56)  // RFC 4122 variant
        for i in 9..<16 { bytes[i] = UInt8(truncatingIfNeeded: f.randB >> (8 * (15 - UInt64(i)))) }
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(b >> 4)])
            text.append(digits[Int(b & 0x0F)])
        }
        self.init(unchecked: String(decoding: text, as: UTF8.self))
    }

    /// The id's text.
    public var description: String { rawValue }
    /// Orders by text; generated ids thus sort by creation time.
    public static func < (a: JobID, b: JobID) -> Bool { a.rawValue < b.rawValue }

    private static func isAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
             UInt8(ascii: "."), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }
}

/// A job id that breaks the id rules (empty, too long, a character outside `A-Za-z0-9-_.:`, or
/// only dots).
public struct InvalidJobID: Error, Equatable, CustomStringConvertible {
    /// The text that was refused.
    public let text: String
    /// Names the id and the rules it breaks.
    public var description: String {
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        let onlyDots = !text.isEmpty && text.utf8.allSatisfy { $0 == UInt8(ascii: ".") }
        return "invalid job id '\(shown)': use 1…\(JobID.maxLength) characters from A-Z a-z 0-9 - _ . :"
            + (onlyDots ? ", not only dots (an id is a path segment; '.' and '..' would leave the job's folder)" : "")
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
