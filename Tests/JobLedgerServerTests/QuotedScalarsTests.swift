@testable import JobLedgerServer
import Testing

/// `Problem.quoted` bounds what it sends back in bytes, not in characters: one character can be a
/// letter followed by tens of thousands of combining marks (up to the 80 KiB a URL may be).
@Suite struct QuotedScalarsTests {
    @Test func oneCharacterOfManyCombiningMarksIsCutShort() {
        let one = "e" + String(repeating: "\u{301}", count: 40_000)
        #expect(one.count == 1)
        let quoted = Problem.quoted(one)
        #expect(quoted.unicodeScalars.count == 101 && quoted.utf8.count < 400, "\(quoted.utf8.count) bytes")
        #expect(Problem.quoted("sketch") == "sketch")
    }
}
