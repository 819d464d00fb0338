import JobLedger
@testable import JobLedgerServer
import Testing

/// `design`'s `input.prompt` as the OpenAPI document states it (`minLength: 1`,
/// `maxLength: 1000`, `pattern: "\\S"`): JSON Schema counts code points, and the pattern is an
/// ECMA-262 regex. The server counted graphemes and took Unicode's White_Space for `\s`, so a
/// client validating against the document and the server disagreed.
@Suite struct KindSchemaTests {
    static func refusal(_ prompt: String) -> Problem? {
        do { try KindSchema.design.validate(["prompt": .string(prompt)]); return nil } catch { return error }
    }

    @Test func lengthIsCountedInCodePoints() {
        #expect(Self.refusal(String(repeating: "a", count: 1000)) == nil)
        #expect(Self.refusal(String(repeating: "a", count: 1001))?.field == "input.prompt")
        // 1000 characters of two code points each (e and a combining acute): 2000 code points.
        let combined = String(repeating: "e\u{301}", count: 1000)
        #expect(combined.count == 1000 && combined.unicodeScalars.count == 2000)
        let p = Self.refusal(combined)
        #expect(p?.field == "input.prompt" && p?.detail.contains("1…1000 Unicode code points") == true, "\(String(describing: p))")
        // 1000 code points that are 500 characters (flags) pass, as the document says.
        let flags = String(repeating: "\u{1F1EB}\u{1F1F7}", count: 500)
        #expect(flags.count == 500 && Self.refusal(flags) == nil)
        // Past 1000 UTF-8 bytes but 1000 code points: the count, not the bytes, decides.
        #expect(Self.refusal(String(repeating: "é", count: 1000)) == nil)
    }

    @Test func whiteSpaceIsECMAScriptsBackslashS() {
        // ECMA-262 white space and line terminators: only these is "only white space".
        for ws in ["\t", "\n", "\u{0B}", "\u{0C}", "\r", " ", "\u{A0}", "\u{1680}", "\u{2000}", "\u{200A}", "\u{2028}", "\u{2029}",
                   "\u{202F}", "\u{205F}", "\u{3000}", "\u{FEFF}"] {
            #expect(Self.refusal(ws + ws)?.field == "input.prompt", "U+\(String(ws.unicodeScalars.first!.value, radix: 16))")
        }
        // U+FEFF is \s to a client; U+0085 (Unicode White_Space, Swift's isWhitespace) is not.
        #expect(Self.refusal(" \u{FEFF} ") != nil)
        #expect(Self.refusal("\u{85}") == nil)
        #expect(Self.refusal("\u{200B}") == nil)   // zero width space: a format character, not \s
        #expect(Self.refusal(" a ") == nil)
        #expect(Self.refusal("")?.field == "input.prompt")
    }
}
