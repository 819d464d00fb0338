@testable import JobLedger
import Testing

/// The engine's lean read of a `queued` payload must give exactly what decoding gives for the
/// text jobledger writes, and give up (so the caller decodes in full) on any other text.
@Suite struct QueuedPayloadScanTests {
    func scan(_ text: String) -> QueuedPayloadScan? {
        var text = text
        return text.withUTF8 { QueuedPayloadScan($0) }
    }

    func decoded(_ text: String) throws -> QueuedPayloadScan {
        guard case .queued(let q) = try EventPayload.decode(type: .queued, text: text) else { throw PayloadError(type: .queued, reason: "not queued") }
        return QueuedPayloadScan(kind: q.kind, priority: q.priority, runAt: q.runAt)
    }

    /// Random inputs (strings with quotes, backslashes, braces and a fake `"kind"` inside,
    /// nesting, numbers, null), kinds, priorities and run-ats: the scan equals decoding.
    @Test func agreesWithDecodingOnWhatJobledgerWrites() throws {
        var rng = JobLedger.SplitMix64(seed: 0x5CA4)
        let pieces = ["\"", "\\", "{", "}", "[", "]", ",\"kind\":\"evil\"", "é", "😀", "\n", "\u{1}", "a", ":", "\"}"]
        func string() -> String { (0..<Int(rng.next() % 6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined() }
        func value(_ depth: Int) -> JSONValue {
            switch rng.next() % (depth > 2 ? 4 : 6) {
            case 0: return .string(string())
            case 1: return .int(Int64(bitPattern: rng.next()) % 1_000_000)
            case 2: return .null
            case 3: return .double(rng.nextDouble() * 1e6)
            case 4: return .array((0..<Int(rng.next() % 4)).map { _ in value(depth + 1) })
            default: return .object(Dictionary((0..<Int(rng.next() % 4)).map { _ in (string(), value(depth + 1)) }, uniquingKeysWith: { a, _ in a }))
            }
        }
        for i in 0..<2_000 {
            let q = EventPayload.Queued(
                kind: i % 7 == 0 ? "kind with spaces é" : "k\(rng.next() % 50)",
                input: i % 5 == 0 ? value(0) : .object(["prompt": .string(string()), "n": value(1)]),
                priority: Int(Int64(bitPattern: rng.next()) % 1_000_001),
                maxAttempts: 1 + Int(rng.next() % 1000),
                runAt: i % 3 == 0 ? nil : Timestamp(milliseconds: Int64(rng.next() % 253_402_300_799_999)),
                owner: i % 4 == 0 ? nil : (i % 11 == 0 ? "user é 😀 with spaces" : "user_\(rng.next() % 100)"))
            let text = EventPayload.queued(q).canonicalText
            let scanned = try #require(scan(text), "\(text)")
            #expect(scanned == (try decoded(text)), "\(text)")
        }
    }

    /// Valid payloads that jobledger does not write, and invalid ones: no lean read.
    @Test(arguments: [
        #"{"kind":"k","input":{},"max_attempts":3,"priority":0}"#,            // keys out of order
        #"{"input":{}, "kind":"k","max_attempts":3,"priority":0}"#,           // a space
        #"{"input":{},"kind":"\u006b","max_attempts":3,"priority":0}"#,        // an escaped kind
        #"{"input":{},"kind":"","max_attempts":3,"priority":0}"#,              // an empty kind
        #"{"input":{},"kind":"k","max_attempts":3,"priority":1.0}"#,           // a fraction
        #"{"input":{},"kind":"k","max_attempts":3,"priority":1e2}"#,           // an exponent
        #"{"input":{},"kind":"k","max_attempts":3,"priority":01}"#,            // a leading zero
        #"{"input":{},"kind":"k","max_attempts":3,"priority":1000001}"#,       // out of range
        #"{"input":{},"kind":"k","max_attempts":0,"priority":0}"#,             // out of range
        #"{"input":{},"kind":"k","max_attempts":3,"priority":0,"run_at":"soon"}"#,
        #"{"input":{},"kind":"k","max_attempts":3,"priority":0,"run_at":null}"#,
        #"{"input":{},"kind":"k","max_attempts":3,"priority":0,"x":1}"#,       // an unknown field
        #"{"input":{},"kind":"k","max_attempts":3,"owner":"","priority":0}"#,  // an empty owner
        #"{"input":{},"kind":"k","max_attempts":3,"owner":"a\"b","priority":0}"#, // an escaped owner (decoded in full)
        #"{"input":{},"kind":"k","max_attempts":3,"owner":7,"priority":0}"#,   // an owner not a string
        #"{"input":{},"kind":"k","max_attempts":3,"priority":0,"owner":"u"}"#, // owner out of order
        #"{"input":{},"kind":"k","max_attempts":3,"priority":0}  "#,           // trailing space
        #"{"input":{},"kind":"k","max_attempts":3}"#,                          // a field missing
        #"{"input":{"a":"\"}"},"kind":7,"max_attempts":3,"priority":0}"#,      // a kind not text
        #"{"input":"#,
        "",
    ])
    func givesUpOnAnyOtherText(text: String) {
        #expect(scan(text) == nil)
    }

    @Test func readsAnInputOfAnyKind() {
        for input in ["5", "null", "true", "-1.5e3", #""s,}""#, "[1,{\"a\":[]}]", #"{"k":"\\"}"#] {
            let text = #"{"input":"# + input + #","kind":"k","max_attempts":3,"priority":-2,"run_at":"2026-12-05T01:00:00.000Z"}"#
            #expect(scan(text) == QueuedPayloadScan(kind: "k", priority: -2, runAt: Timestamp(iso8601: "2026-12-05T01:00:00.000Z")), "\(input)")
        }
    }
}
