import Foundation

/// A point in time as whole milliseconds since 1970-01-01 UTC: the resolution of the log's
/// `recorded_at` column. Written in payloads as ISO-8601 UTC text (`2026-11-29T00:04:08.123Z`).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z (negative: before).
    public var milliseconds: Int64

    /// The time `milliseconds` after the epoch.
    ///
    /// ```swift
    /// Timestamp(milliseconds: 1_764_374_648_123).iso8601  // "2025-11-29T00:04:08.123Z"
    /// ```
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// The date's whole milliseconds, rounded down. A date beyond what `Int64` milliseconds can
    /// hold (about ±292 million years, or `Date.distantFuture` scaled up) saturates at the
    /// nearest end; a NaN date is the epoch. Never traps.
    public init(_ date: Date) {
        let ms = (date.timeIntervalSince1970 * 1000).rounded(.down)
        if ms.isNaN {
            milliseconds = 0
        } else if ms >= 9_223_372_036_854_775_808.0 {  // 2^63
            milliseconds = .max
        } else if ms < -9_223_372_036_854_775_808.0 {
            milliseconds = .min
        } else {
            milliseconds = Int64(ms)
        }
    }

    /// The wall clock now (the engine and the log take theirs from an injectable clock instead).
    public static var now: Timestamp { Timestamp(Date()) }
    /// The times a log records, in milliseconds: 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z
    /// (what ISO-8601 text with a four-digit year, an export's, can carry).
    public static let recordable: ClosedRange<Int64> = 0...253_402_300_799_999
    /// `recordable` as text: `1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z`.
    public static let recordableText = "1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z"
    /// The same instant as a Foundation `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// Earlier first.
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }
    /// This time moved by `ms` (negative: earlier). Saturates at `Int64.min`/`.max` milliseconds
    /// instead of overflowing, so a huge lease or retry delay means "never", not a trap.
    public func adding(milliseconds ms: Int64) -> Timestamp {
        let (sum, overflow) = milliseconds.addingReportingOverflow(ms)
        guard overflow else { return Timestamp(milliseconds: sum) }
        return Timestamp(milliseconds: ms > 0 ? .max : .min)
    }

    /// Milliseconds from `earlier` to this time (negative when `earlier` is later), saturating
    /// instead of overflowing.
    public func milliseconds(since earlier: Timestamp) -> Int64 {
        let (difference, overflow) = milliseconds.subtractingReportingOverflow(earlier.milliseconds)
        guard overflow else { return difference }
        return earlier.milliseconds < 0 ? .max : .min
    }

    /// ISO-8601 in UTC with milliseconds, e.g. `2026-11-29T00:04:08.123Z`.
    public var iso8601: String {
        // Floor division without intermediate overflow (valid for every Int64, .min included).
        var (days, msOfDay) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        if msOfDay < 0 { days -= 1; msOfDay += 86_400_000 }
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let h = msOfDay / 3_600_000, mi = (msOfDay / 60_000) % 60, s = (msOfDay / 1000) % 60, f = msOfDay % 1000
        guard (0...9999).contains(y) else {
            func p(_ v: Int64, _ w: Int) -> String { String(v).leftPadded(to: w) }
            return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(h, 2)):\(p(mi, 2)):\(p(s, 2)).\(p(f, 3))Z"
        }
        // The common case, written digit by digit (this is on every append's path).
        return String(unsafeUninitializedCapacity: 24) { b in
            func put(_ v: Int64, _ at: Int, _ width: Int) {
                var v = v
                for i in stride(from: at + width - 1, through: at, by: -1) { b[i] = UInt8(48 + v % 10); v /= 10 }
            }
            put(y, 0, 4); b[4] = UInt8(ascii: "-"); put(m, 5, 2); b[7] = UInt8(ascii: "-"); put(d, 8, 2)
            b[10] = UInt8(ascii: "T"); put(h, 11, 2); b[13] = UInt8(ascii: ":"); put(mi, 14, 2)
            b[16] = UInt8(ascii: ":"); put(s, 17, 2); b[19] = UInt8(ascii: "."); put(f, 20, 3); b[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// The ISO-8601 text (`iso8601`).
    public var description: String { iso8601 }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only; up to 9 fraction digits, kept to ms).
    public init?(iso8601 text: String) {
        var text = text
        guard let ms = text.withUTF8({ Timestamp.parseISO($0) }) else { return nil }
        milliseconds = ms
    }

    /// Parses an RFC 3339 `date-time`: `init?(iso8601:)`'s form (1…9 fraction digits, kept to
    /// milliseconds), or the same with a numeric offset (`+01:00`, `-00:00`) in place of `Z`;
    /// `t` and `z` may be lowercase. What a client
    /// sends as `run_at` (the API's body, a stream entry's field).
    public init?(rfc3339 text: String) {
        var t = text.uppercased()  // `t` and `z` → `T` and `Z`; digits and signs stay
        var offset: Int64 = 0
        if !t.hasSuffix("Z") {
            let tail = Array(t.utf8.suffix(6))
            guard tail.count == 6, tail[0] == UInt8(ascii: "+") || tail[0] == UInt8(ascii: "-"), tail[3] == UInt8(ascii: ":"),
                  [1, 2, 4, 5].allSatisfy({ (48...57).contains(tail[$0]) }) else { return nil }
            let hours = Int64(tail[1] - 48) * 10 + Int64(tail[2] - 48), minutes = Int64(tail[4] - 48) * 10 + Int64(tail[5] - 48)
            guard hours < 24, minutes < 60 else { return nil }
            offset = (hours * 60 + minutes) * 60_000 * (tail[0] == UInt8(ascii: "+") ? 1 : -1)
            t = String(t.dropLast(6)) + "Z"
        }
        guard let local = Timestamp(iso8601: t) else { return nil }
        milliseconds = local.milliseconds - offset
    }

    /// `init?(iso8601:)` on UTF-8 bytes.
    package init?(iso8601 bytes: UnsafeBufferPointer<UInt8>) {
        guard let ms = Timestamp.parseISO(bytes) else { return nil }
        milliseconds = ms
    }

    private static func parseISO(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ from: Int, _ len: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + len) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60
        else { return nil }
        var frac: Int64 = 0
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count - 21 >= 1, b.count - 21 <= 9,
                  let f = num(20, b.count - 21) else { return nil }
            var digits = b.count - 21
            frac = f
            while digits > 3 { frac /= 10; digits -= 1 }
            while digits < 3 { frac *= 10; digits += 1 }
        } else if b.count != 20 { return nil }
        let days = Timestamp.days(fromCivil: y, mo, d)
        // Refuse days the month does not have (2025-02-30 would otherwise roll over into March).
        guard Timestamp.civil(fromDays: days) == (y, mo, d) else { return nil }
        return days * 86_400_000 + h * 3_600_000 + mi * 60_000 + s * 1000 + frac
    }

    /// Parses either ISO-8601 text or a whole number of milliseconds since the epoch.
    public init?(parsing text: String) {
        if let ms = Int64(text) { self.init(milliseconds: ms) } else { self.init(iso8601: text) }
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
