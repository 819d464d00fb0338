import Foundation
import Testing
@testable import JobLedger

/// A small deterministic generator (SplitMix64), so loops over "random" values are repeatable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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

func invalidJobID(_ text: String) -> InvalidJobID? {
    do throws(InvalidJobID) {
        _ = try JobID(text)
        return nil
    } catch {
        return error
    }
}

@Suite("JobID")
struct JobIDTests {
    static let hexDigits = Set("0123456789abcdef")

    @Test("generated ids are 36-character UUIDv7 text")
    func uuidV7Shape() throws {
        let time = Timestamp(milliseconds: 1_764_374_648_123)
        // A sequence of its own: the process's may already be past this time (a later clock).
        var sequence = JobIDSequence()
        for _ in 0..<200 {
            let id = JobID.generate(at: time, in: &sequence)
            let s = Array(id.rawValue)
            #expect(s.count == 36)
            #expect(s[8] == "-" && s[13] == "-" && s[18] == "-" && s[23] == "-")
            #expect(s[14] == "7", "version nibble")
            #expect("89ab".contains(s[19]), "RFC 4122 variant")
            let hex = s.filter { $0 != "-" }
            #expect(hex.count == 32)
            #expect(hex.allSatisfy { Self.hexDigits.contains($0) }, "lowercase hex: \(id)")
            // The first 48 bits are the Unix milliseconds.
            #expect(UInt64(String(hex.prefix(12)), radix: 16) == 1_764_374_648_123)
            #expect(String(s[0..<14]) == "019accec-953b-")
            // A generated id is a valid id.
            #expect(try JobID(id.rawValue) == id)
            #expect(id.description == id.rawValue)
        }
    }

    /// Every one of the 74 random bits is drawn: over the first ids of 400 milliseconds, each hex
    /// digit after the version nibble takes many values (a byte left unset would be a constant
    /// digit). Within one millisecond the ids count up instead (`idsOfOneMillisecondCountUp`).
    @Test("the random part varies in every position")
    func randomBitsAllDrawn() {
        var sequence = JobIDSequence()
        let ids = (0..<400).map { i in
            Array(JobID.generate(at: Timestamp(milliseconds: 1_764_374_648_123 + Int64(i)), in: &sequence).rawValue.filter { $0 != "-" })
        }
        for position in 13..<32 {
            let seen = Set(ids.map { $0[position] })
            #expect(seen.count >= (position == 16 ? 4 : 12), "hex digit \(position) took only \(seen.sorted())")
        }
        #expect(Set(ids.map { String($0) }).count == ids.count)
    }

    @Test("the time prefix of known instants")
    func timePrefix() {
        // A fresh sequence each: a sequence never goes back to an earlier millisecond.
        func first(_ ms: Int64) -> String {
            var sequence = JobIDSequence()
            return JobID.generate(at: Timestamp(milliseconds: ms), in: &sequence).rawValue
        }
        #expect(first(0).hasPrefix("00000000-0000-7"))
        #expect(first(1).hasPrefix("00000000-0001-7"))
        #expect(first(0xFFFF_FFFF_FFFF).hasPrefix("ffffffff-ffff-7"))
        #expect(first(-5).hasPrefix("00000000-0000-7"), "pre-1970 clamps to 0")
    }

    /// RFC 9562 §6.2: ids of one millisecond keep its time and count up from a random start, so
    /// they sort in the order they were made (jobs submitted in a tight loop are claimed in
    /// that order).
    @Test("ids of one millisecond count up from a random start")
    func idsOfOneMillisecondCountUp() {
        let time = Timestamp(milliseconds: 1_764_374_648_123)
        var sequence = JobIDSequence()
        let ids = (0..<1_000).map { _ in JobID.generate(at: time, in: &sequence) }
        for (a, b) in zip(ids, ids.dropFirst()) { #expect(a < b) }
        #expect(ids.allSatisfy { $0.rawValue.hasPrefix("019accec-953b-7") })
        // Hex digits 13…31 (rand_a, the variant, rand_b) as one number: each id is the last plus one.
        func counter(_ id: JobID) -> (UInt64, UInt64) {
            let hex = Array(id.rawValue.filter { $0 != "-" })
            let randA = UInt64(String(hex[13..<16]), radix: 16)!
            let randB = UInt64(String(hex[16..<32]), radix: 16)! & JobIDSequence.maxRandB
            return (randA, randB)
        }
        for (a, b) in zip(ids, ids.dropFirst()) {
            let (ca, cb) = (counter(a), counter(b))
            #expect(ca.1 == JobIDSequence.maxRandB ? (cb == (ca.0 + 1, 0)) : (cb == (ca.0, ca.1 + 1)))
        }
    }

    /// A clock set back does not make ids go back: they keep the latest millisecond seen.
    @Test("an earlier time keeps the previous id's millisecond")
    func earlierTimeKeepsTheMillisecond() {
        var sequence = JobIDSequence()
        let later = JobID.generate(at: Timestamp(milliseconds: 1_764_374_648_123), in: &sequence)
        let earlier = JobID.generate(at: Timestamp(milliseconds: 1_764_374_640_000), in: &sequence)
        #expect(later < earlier)
        #expect(earlier.rawValue.hasPrefix("019accec-953b-7"))
        let next = JobID.generate(at: Timestamp(milliseconds: 1_764_374_648_124), in: &sequence)
        #expect(next.rawValue.hasPrefix("019accec-953c-7"), "a later millisecond is taken again")
    }

    /// When every random bit after a millisecond is used up, the next id borrows the next
    /// millisecond rather than wrapping around.
    @Test("a full counter carries into the next millisecond")
    func fullCounterCarries() {
        struct AllOnes: RandomNumberGenerator { mutating func next() -> UInt64 { .max } }
        var rng = AllOnes()
        var sequence = JobIDSequence()
        let time = Timestamp(milliseconds: 1_764_374_648_123)
        let full = sequence.next(at: time, using: &rng)
        #expect(full.randA == JobIDSequence.maxRandA && full.randB == JobIDSequence.maxRandB)
        let carried = sequence.next(at: time, using: &rng)
        #expect(carried.ms == full.ms + 1 && carried.randA == 0 && carried.randB == 0)
    }

    /// The process's generator from many tasks at once: no id twice, and each task's ids increase.
    @Test("ids generated concurrently are unique and increase in each task")
    func concurrentGeneration() async {
        let time = Timestamp.now
        let perTask = await withTaskGroup(of: [JobID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<500).map { _ in JobID.generate(at: time) } } }
            return await group.reduce(into: [[JobID]]()) { $0.append($1) }
        }
        for ids in perTask { for (a, b) in zip(ids, ids.dropFirst()) { #expect(a < b) } }
        #expect(Set(perTask.joined()).count == 8 * 500)
    }

    @Test("ids generated at increasing times sort increasingly")
    func sortedByTime() {
        var rng = SplitMix64(state: 7)
        var time = Timestamp(milliseconds: 1_700_000_000_000)
        var ids: [JobID] = []
        // A sequence of its own: the process's would keep the far-future millisecond this reaches.
        var sequence = JobIDSequence()
        for i in 0..<2_000 {
            // Steps of 1 ms, and sometimes large jumps that carry across many hex digits.
            let step: Int64 = i.isMultiple(of: 10) ? Int64.random(in: 1...1_000_000_000, using: &rng) : 1
            time = time.adding(milliseconds: step)
            ids.append(JobID.generate(at: time, in: &sequence))
        }
        #expect(ids.sorted() == ids)
        #expect(Set(ids).count == ids.count)
        for (a, b) in zip(ids, ids.dropFirst()) { #expect(a < b) }
    }

    @Test("ids generated in the same millisecond differ")
    func uniqueWithinAMillisecond() {
        let time = Timestamp(milliseconds: 1_764_374_648_123)
        let ids = (0..<1_000).map { _ in JobID.generate(at: time) }
        #expect(Set(ids).count == ids.count)
    }

    @Test("valid ids are accepted", arguments: [
        "a", "job-1", "A-Z_a.z:0-9", "0195f3a2-1b2c-7d4e-8f00-123456789abc", String(repeating: "x", count: 128), "::",
        ".hidden", "a..b", "..a", "a..", "-", "_",
    ])
    func valid(_ text: String) throws {
        let id = try JobID(text)
        #expect(id.rawValue == text)
        #expect(id.description == text)
    }

    @Test("invalid ids are refused", arguments: [
        "", String(repeating: "x", count: 129), "a b", " a", "a ", "a/b", "/", "a\nb", "a\tb", "é", "a?b", "a#b", "a%20", "a\\b", "a\u{0}b", "ü" + String(repeating: "x", count: 10),
    ])
    func invalid(_ text: String) throws {
        let e = try #require(invalidJobID(text))
        #expect(e.text == text)
        #expect(e.description.contains("invalid job id"))
        #expect(e.description.contains("128"))
    }

    /// Blob pathnames are `jobs/<id>/…`: an id of `.` or `..` would be a traversal, and any id
    /// made only of dots is refused with them (no blob store ever receives such a segment).
    @Test("ids made only of dots are refused, saying why", arguments: [".", "..", "...", String(repeating: ".", count: 128)])
    func onlyDots(_ text: String) throws {
        let e = try #require(invalidJobID(text))
        #expect(e.description.contains("not only dots"), "\(e)")
        #expect(e.description.contains("path segment"), "\(e)")
    }

    @Test("the length limit counts bytes")
    func lengthInBytes() {
        #expect(JobID.maxLength == 128)
        #expect(throws: InvalidJobID.self) { try JobID(String(repeating: "é", count: 64)) }
    }

    @Test("a long invalid id is shortened in the message")
    func longInvalidMessage() throws {
        let text = String(repeating: "y", count: 300)
        let d = try #require(invalidJobID(text)).description
        #expect(d.contains(String(repeating: "y", count: 40) + "…"))
        #expect(!d.contains(String(repeating: "y", count: 41)))
    }

    @Test("ids compare by their text")
    func ordering() throws {
        #expect(try JobID("a") < JobID("b"))
        #expect(try JobID("A") < JobID("a"))
        #expect(try JobID("job-10") < JobID("job-9"))
        #expect(try JobID("x") == JobID("x"))
    }
}
