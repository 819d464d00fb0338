import Foundation
import Testing

/// Arguments whose bytes are not UTF-8: Swift's `CommandLine.arguments` repairs them (U+FFFD),
/// and the repaired text was stored with exit 0. They are refused by position instead, with
/// exit 2 (bad input, as an import line that is not UTF-8 is), before anything is opened.
@Suite(.timeLimit(.minutes(5)))
struct NonUTF8ArgumentTests {
    let scratch = Scratch()

    @Test func aPayloadInLatin1IsRefusedAndNothingIsWritten() async throws {
        let r = try await jobledgerInShell(#"append --db u.sqlite --type queued --job j1 --payload "$(printf '{"kind":"design","input":"caf\351"}')""#,
                                           in: scratch)
        expectRefusal(r, exit: 2, mentions: ["argument 9 (the value of --payload) is not valid UTF-8", "byte 0xE9 at byte offset 29",
                                             "bytes are never replaced"])
        #expect(!scratch.exists("u.sqlite"), "no log may be created")
    }

    @Test func aKindAndAnInputThatAreNotUTF8AreRefused() async throws {
        let r = try await jobledgerInShell(#"submit "$(printf 'k\377')" --db u.sqlite --input "$(printf '"\303"')""#, in: scratch)
        expectRefusal(r, exit: 2, mentions: ["argument 2 is not valid UTF-8", "byte 0xFF at byte offset 1"])
        #expect(!scratch.exists("u.sqlite"))
        // A truncated sequence at the end of an option's value, the kind valid.
        let input = try await jobledgerInShell(#"submit k --db u.sqlite --input "$(printf '"\303"')""#, in: scratch)
        expectRefusal(input, exit: 2, mentions: ["argument 6 (the value of --input)", "byte 0xC3 at byte offset 1"])
        #expect(!scratch.exists("u.sqlite"))
    }

    /// UTF-8 that is well formed goes through as before, whatever script it is in.
    @Test func wellFormedUTF8IsAccepted() async throws {
        let r = try await jobledgerInShell(#"append --db u.sqlite --type queued --payload "$(printf '{"kind":"design","input":"caf\303\251 \360\237\216\250"}')""#,
                                           in: scratch)
        #expect(r.status == 0, "\(r)")
        let export = try await jobledger(["export", "--db", "u.sqlite"], in: scratch)
        #expect(export.stdout.contains("café 🎨"), "\(export)")
    }

    /// Overlong forms, surrogates and code points above U+10FFFF are not UTF-8 either.
    @Test(arguments: [#"\300\257"#, #"\355\240\200"#, #"\364\220\200\200"#])
    func malformedSequencesAreRefused(bytes: String) async throws {
        let r = try await jobledgerInShell(#"submit "$(printf 'x\#(bytes)')" --db u.sqlite"#, in: scratch)
        expectRefusal(r, exit: 2, mentions: ["argument 2 is not valid UTF-8", "at byte offset 1"])
        #expect(!scratch.exists("u.sqlite"))
    }
}
