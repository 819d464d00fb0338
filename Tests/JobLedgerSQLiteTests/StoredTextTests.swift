@testable import JobLedgerSQLite
import Testing

/// `StoredText.containsReplacement`: the cheap test that decides whether a row's bytes are read
/// again; it must find U+FFFD wherever it is, and nothing else.
@Suite struct StoredTextTests {
    @Test(arguments: ["\u{FFFD}", "ab\u{FFFD}", "\u{FFFD}cd", "x\u{F000}y\u{FFFD}", String(repeating: "é", count: 40) + "\u{FFFD}"])
    func findsTheReplacementCharacter(_ text: String) {
        #expect(StoredText.containsReplacement(text))
    }

    @Test(arguments: ["", "a", "ab", "\u{F000}", "\u{FFFC}", "\u{FFFE}", "\u{EFBF}", "plain text", "😀"])
    func findsNothingElse(_ text: String) {
        #expect(!StoredText.containsReplacement(text))
    }
}
