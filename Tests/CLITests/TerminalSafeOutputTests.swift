import Foundation
import JobLedgerTestSupport
import Testing

/// A payload's text is anyone's: printed to a terminal as it is, an escape sequence sets the
/// window title or the colours, a carriage return overwrites the line, and a newline fakes a
/// row. The human-readable output writes control characters (and the bidirectional overrides)
/// as escapes; `--json` is JSON.
@Suite struct TerminalSafeOutputTests {
    @Test func controlCharactersInAPayloadArePrintedAsEscapes() async throws {
        let scratch = Scratch()
        let queued = try await jobledger(["append", "--db", "e.sqlite", "--type", "queued", "--payload", #"{"kind":"design"}"#], in: scratch)
        let job = queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(queued.status == 0, "\(queued)")
        let started = try await jobledger(["append", "--db", "e.sqlite", "--job", job, "--type", "started", "--payload",
                                           #"{"worker":"w\u001b]0;pwned\u0007","attempt":1,"lease_deadline":"2030-01-01T00:00:00Z"}"#], in: scratch)
        try #require(started.status == 0, "\(started)")
        let failed = try await jobledger(["append", "--db", "e.sqlite", "--job", job, "--type", "failed", "--payload",
                                          #"{"code":"x","message":"boom\r\u001b[32mALL OK\nFAKE LINE \u202eevil\u2028LS","retryable":false,"attempt":1}"#], in: scratch)
        try #require(failed.status == 0, "\(failed)")
        for command in [["jobs"], ["history", job], ["state", job]] {
            let r = try await jobledger(command + ["--db", "e.sqlite"], in: scratch)
            #expect(r.status == 0, "\(r)")
            #expect(!r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0 == "\r" || $0.value == 0x07 || $0.value == 0x202E || $0.value == 0x2028 },
                    "\(command): \(r.stdout.debugDescription)")
            #expect(!r.stdout.split(separator: "\n").contains { $0.hasPrefix("FAKE LINE") }, "\(command): a payload's newline made a line of its own")
            #expect(r.stdout.contains(#"boom\r\u{1B}[32mALL OK\nFAKE LINE \u{202E}evil\u{2028}LS"#), "\(command): \(r.stdout)")
        }
        // `replay --effects` and `--projection broadcast` print the messages, each field made
        // safe (the bidirectional override went out raw), the tabs between them kept.
        for command in [["replay", "--effects"], ["replay", "--projection", "broadcast"]] {
            let r = try await jobledger(command + ["--db", "e.sqlite"], in: scratch)
            #expect(r.status == 0 && !r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0 == "\r" || $0.value == 0x202E }, "\(command): \(r.stdout.debugDescription)")
            #expect(r.stdout.contains(#"\u{202E}evil"#) && r.stdout.contains("\tbroadcast\t"), "\(command): \(r.stdout)")
        }
        let json = try await jobledger(["history", job, "--db", "e.sqlite", "--json"], in: scratch)
        #expect(json.stdout.contains(#"\r\u001b[32mALL OK\nFAKE LINE"#), "--json escapes as JSON does: \(json.stdout)")
    }

    /// What a command says on stderr quotes what it was given: a job id, an import line's field
    /// name, an idempotency key. An export received from elsewhere set the terminal's title or
    /// cleared the screen of the operator importing it. Escaped there too, whichever part says
    /// it (the command's own refusal, or the argument parser's).
    @Test func controlCharactersInWhatAnErrorQuotesArePrintedAsEscapes() async throws {
        let scratch = Scratch()
        let esc = "\u{1B}", bel = "\u{07}"
        try #"{"job_id":"x\u001b]0;pwned\u0007","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}}"#
            .appending("\n").write(to: scratch.url.appendingPathComponent("a.ndjson"), atomically: true, encoding: .utf8)
        try #"{"job_id":"ok1","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design","x\u001b[2J":1}}"#
            .appending("\n").write(to: scratch.url.appendingPathComponent("b.ndjson"), atomically: true, encoding: .utf8)
        let first = try await jobledger(["submit", "design", "--db", "k.sqlite", "--idempotency-key", "k\(esc)[2J"], in: scratch)
        try #require(first.status == 0, "\(first)")
        let runs: [(args: [String], status: Int32, shows: String)] = [
            (["import", "--db", "i.sqlite", "a.ndjson"], 2, #"x\u{1B}]0;pwned\u{7}"#),
            (["import", "--db", "i.sqlite", "b.ndjson"], 2, #"x\u{1B}[2J"#),
            (["history", "x\(esc)[31mred", "--db", "k.sqlite"], 2, #"x\u{1B}[31mred"#),
            (["cancel", "bad\(esc)[2J\(bel)", "--db", "k.sqlite"], 2, #"bad\u{1B}[2J\u{7}"#),
            (["submit", "design", "--db", "k.sqlite", "--idempotency-key", "k\(esc)[2J", "--input", #"{"other":1}"#], 3, #"k\u{1B}[2J"#),
        ]
        for run in runs {
            let r = try await jobledger(run.args, in: scratch)
            #expect(r.status == run.status, "\(r)")
            #expect(!r.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(run.args): \(r.stderr.debugDescription)")
            #expect(r.stderr.contains(run.shows), "\(run.args): \(r.stderr)")
        }
    }

    /// An event recorded earlier than the one before it (a writer's clock stepped back) showed
    /// its gap as `+-1000ms`.
    @Test func aGapBackInTimeIsShownWithAMinus() async throws {
        let scratch = Scratch()
        try (#"{"job_id":"t-1","type":"queued","recorded_at":"2026-11-29T00:00:02Z","payload":{"kind":"design"}}"# + "\n"
             + #"{"job_id":"t-1","type":"canceled","recorded_at":"2026-11-29T00:00:01Z","payload":{"reason":"x"}}"# + "\n")
            .write(to: scratch.url.appendingPathComponent("back.ndjson"), atomically: true, encoding: .utf8)
        let imported = try await jobledger(["import", "--db", "back.sqlite", "back.ndjson"], in: scratch)
        try #require(imported.status == 0, "\(imported)")
        let r = try await jobledger(["history", "t-1", "--db", "back.sqlite"], in: scratch)
        #expect(r.status == 0 && r.stdout.contains("-1.0s") && !r.stdout.contains("+-"), "\(r.stdout)")
    }

    /// An empty input "restored" an empty log with the same success line as a real restore.
    @Test func anEmptyImportIsSaidToHoldNoEvent() async throws {
        let scratch = Scratch()
        try Data().write(to: scratch.url.appendingPathComponent("empty.ndjson"))
        let r = try await jobledger(["import", "--db", "e.sqlite", "empty.ndjson"], in: scratch)
        #expect(r.status == 0 && r.stderr.contains("warning: empty.ndjson holds no event"), "\(r)")
    }
}
