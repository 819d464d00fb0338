import Foundation
import Testing
@testable import JobLedger

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
