import Foundation
import Testing
@testable import JobLedger

@Suite("Timestamp")
struct TimestampTests {
    /// Expected texts computed with Python's datetime (UTC).
    @Test("ISO-8601 text of known instants", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (1_764_374_648_123, "2025-11-29T00:04:08.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
        (-86_400_001, "1969-12-30T23:59:59.999Z"),
        (-14_182_940_000, "1969-07-20T20:17:40.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ])
    func knownInstants(ms: Int64, text: String) {
        let t = Timestamp(milliseconds: ms)
        #expect(t.iso8601 == text)
        #expect(t.description == text)
        #expect(Timestamp(iso8601: text) == t)
        #expect(Timestamp(parsing: text) == t)
    }

    @Test("parse(iso8601(t)) == t over many pseudo-random instants in years 0001…9999")
    func roundTripMany() {
        var rng = SplitMix64(state: 0x5EED)
        let lo: Int64 = -62_135_596_800_000  // 0001-01-01
        let hi: Int64 = 253_402_300_799_999  // 9999-12-31T23:59:59.999
        var failures = 0
        for i in 0..<20_000 {
            // Alternate between the whole range and the neighbourhood of the epoch.
            let ms = i.isMultiple(of: 2) ? Int64.random(in: lo...hi, using: &rng) : Int64.random(in: -200_000_000_000...200_000_000_000, using: &rng)
            let t = Timestamp(milliseconds: ms)
            let text = t.iso8601
            if Timestamp(iso8601: text) != t || text.utf8.count != 24 {
                failures += 1
                if failures < 5 { Issue.record("\(ms) → \(text) → \(String(describing: Timestamp(iso8601: text)))") }
            }
        }
        #expect(failures == 0)
    }

    @Test("formatting agrees with Foundation's ISO-8601 formatter")
    func agreesWithFoundation() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        var rng = SplitMix64(state: 42)
        for _ in 0..<500 {
            // Whole seconds keep Foundation's floating-point fractions out of the comparison.
            let ms = Int64.random(in: -2_000_000_000...4_000_000_000, using: &rng) * 1000
            let t = Timestamp(milliseconds: ms)
            #expect(t.iso8601 == f.string(from: t.date), "\(ms)")
        }
    }

    @Test("fraction digits: none, fewer than three, more than three (kept to milliseconds)", arguments: [
        ("2025-11-29T00:04:08Z", Int64(1_764_374_648_000)),
        ("2025-11-29T00:04:08.1Z", 1_764_374_648_100),
        ("2025-11-29T00:04:08.12Z", 1_764_374_648_120),
        ("2025-11-29T00:04:08.123Z", 1_764_374_648_123),
        ("2025-11-29T00:04:08.1239Z", 1_764_374_648_123),
        ("2025-11-29T00:04:08.123999999Z", 1_764_374_648_123),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2024-02-29T12:00:00Z", 1_709_208_000_000),
    ])
    func fractions(text: String, ms: Int64) {
        #expect(Timestamp(iso8601: text) == Timestamp(milliseconds: ms))
    }

    @Test("bad ISO-8601 text is refused", arguments: [
        "",
        "2025-11-29",
        "2025-11-29T00:04:08",
        "2025-11-29T00:04:08.123",          // no Z
        "2025-11-29 00:04:08Z",             // space instead of T
        "2025-11-29t00:04:08Z",
        "2025-11-29T00:04:08z",
        "2025/11/29T00:04:08Z",
        "2025-11-29T00-04-08Z",
        "2025-11-29T00:04:08+01:00",
        "2025-11-29T00:04:08.123+00:00",
        "+2025-11-29T00:04:08Z",
        "25-11-29T00:04:08.000Z",
        "2025-1-29T00:04:08.000Z",
        "2025-13-01T00:00:00Z",             // month 13
        "2025-00-10T00:00:00Z",             // month 0
        "2025-11-00T00:00:00Z",             // day 0
        "2025-11-32T00:00:00Z",             // day 32
        "2025-11-29T24:00:00Z",             // hour 24
        "2025-11-29T00:60:00Z",             // minute 60
        "2025-11-29T00:00:60Z",             // second 60
        "2025-11-29T00:04:08.Z",            // empty fraction
        "2025-11-29T00:04:08.1234567890Z",  // ten fraction digits
        "2025-11-29T00:04:08.12aZ",
        "2025-11-29T0a:04:08Z",
        "2025-11-29T00:04:08ZZ",
        "2025-11-29T00:04:08,123Z",
        "2025-02-29T00:00:00Z",             // not a leap year
        "2025-02-30T00:00:00Z",
        "1900-02-29T00:00:00Z",             // century, not a leap year
        "2025-04-31T00:00:00Z",             // April has 30 days
        "2025-06-31T00:00:00Z",
        "2025-09-31T00:00:00Z",
        "2025-11-31T00:00:00Z",
        "tomorrow at noon, please",
    ])
    func badText(_ text: String) {
        #expect(Timestamp(iso8601: text) == nil, "\(text) accepted as \(String(describing: Timestamp(iso8601: text)))")
        #expect(Timestamp(parsing: text) == nil)
    }

    @Test("last days of each month are accepted")
    func monthLengths() {
        let lengths2024 = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for (i, n) in lengths2024.enumerated() {
            let m = String(i + 1).leftPadded(to: 2)
            let text = "2024-\(m)-\(n)T23:59:59.999Z"
            let t = Timestamp(iso8601: text)
            #expect(t?.iso8601 == text)
            // The next millisecond is the first of the next month.
            let next = t?.adding(milliseconds: 1).iso8601
            #expect(next?.hasSuffix("-01T00:00:00.000Z") == true, "\(String(describing: next))")
        }
        #expect(Timestamp(iso8601: "2000-02-29T00:00:00Z") != nil, "2000 is a leap year")
    }

    @Test("parsing accepts whole milliseconds too")
    func parsingMilliseconds() {
        #expect(Timestamp(parsing: "0") == Timestamp(milliseconds: 0))
        #expect(Timestamp(parsing: "1764374648123") == Timestamp(milliseconds: 1_764_374_648_123))
        #expect(Timestamp(parsing: "-1") == Timestamp(milliseconds: -1))
        #expect(Timestamp(parsing: "12.5") == nil)
        #expect(Timestamp(parsing: "1e3") == nil)
    }

    @Test("ordering, arithmetic and Date conversion")
    func orderingAndDates() {
        let a = Timestamp(milliseconds: -5), b = Timestamp(milliseconds: 3)
        #expect(a < b)
        #expect(!(b < a))
        #expect(max(a, b) == b)
        #expect(a.adding(milliseconds: 8) == b)
        #expect(b.adding(milliseconds: -8) == a)
        #expect(Timestamp(Date(timeIntervalSince1970: 1_764_374_648.123_4)) == Timestamp(milliseconds: 1_764_374_648_123))
        #expect(Timestamp(Date(timeIntervalSince1970: -0.000_5)) == Timestamp(milliseconds: -1), "rounds down, also before 1970")
        #expect(Timestamp(milliseconds: 1_500).date == Date(timeIntervalSince1970: 1.5))
        let now = Timestamp.now
        #expect(now > Timestamp(iso8601: "2024-01-01T00:00:00Z")!)
    }

    @Test("arithmetic saturates at the ends instead of trapping")
    func saturatingArithmetic() {
        let top = Timestamp(milliseconds: .max), bottom = Timestamp(milliseconds: .min)
        #expect(top.adding(milliseconds: 1) == top)
        #expect(top.adding(milliseconds: .max) == top)
        #expect(top.adding(milliseconds: -1) == Timestamp(milliseconds: .max - 1))
        #expect(bottom.adding(milliseconds: -1) == bottom)
        #expect(bottom.adding(milliseconds: .min) == bottom)
        #expect(bottom.adding(milliseconds: .max) == Timestamp(milliseconds: -1))
        #expect(Timestamp(milliseconds: 1_795_000_000_000).adding(milliseconds: .max) == top, "a lease of Int64.max ms means never")
        #expect(top.milliseconds(since: bottom) == .max)
        #expect(bottom.milliseconds(since: top) == .min)
        #expect(Timestamp(milliseconds: 10).milliseconds(since: Timestamp(milliseconds: 3)) == 7)
        #expect(Timestamp(milliseconds: 3).milliseconds(since: Timestamp(milliseconds: 10)) == -7)
        #expect(top.milliseconds(since: top) == 0)
    }

    @Test("dates beyond Int64 milliseconds saturate; NaN is the epoch")
    func extremeDates() {
        #expect(Timestamp(Date(timeIntervalSince1970: .infinity)) == Timestamp(milliseconds: .max))
        #expect(Timestamp(Date(timeIntervalSince1970: 1e300)) == Timestamp(milliseconds: .max))
        #expect(Timestamp(Date(timeIntervalSince1970: 9_223_372_036_854_775.807)) == Timestamp(milliseconds: .max))
        #expect(Timestamp(Date(timeIntervalSince1970: -.infinity)) == Timestamp(milliseconds: .min))
        #expect(Timestamp(Date(timeIntervalSince1970: -1e300)) == Timestamp(milliseconds: .min))
        #expect(Timestamp(Date(timeIntervalSince1970: .nan)) == Timestamp(milliseconds: 0))
        #expect(Timestamp(Date.distantFuture).iso8601 == "4001-01-01T00:00:00.000Z")
    }

    @Test("the ends of the range still print (no overflow in the day arithmetic)")
    func extremeText() {
        // The same instants as Java's Instant.ofEpochMilli(Long.MAX_VALUE / Long.MIN_VALUE)
        // (proleptic Gregorian; Java writes a "+" before years past 9999).
        #expect(Timestamp(milliseconds: .max).iso8601 == "292278994-08-17T07:12:55.807Z")
        #expect(Timestamp(milliseconds: .min).iso8601 == "-292275055-05-16T16:47:04.192Z")
        #expect(Timestamp(milliseconds: .min + 1).iso8601.hasSuffix("T16:47:04.193Z"))
        #expect(Timestamp(iso8601: Timestamp(milliseconds: .max).iso8601) == nil, "more than four year digits is not ISO-8601 text we accept")
    }
}
