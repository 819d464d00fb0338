import Testing
@testable import JobLedger

func parseError(_ text: String) -> JSONParseError? {
    do { _ = try JSONValue(parsing: text); return nil } catch { return error }
}

func nestedArrays(_ depth: Int, inner: String = "") -> String {
    String(repeating: "[", count: depth) + inner + String(repeating: "]", count: depth)
}

@Suite("JSONValue")
struct JSONValueTests {
    // MARK: Canonical text

    @Test("canonical text sorts keys by UTF-8 bytes, at every level")
    func sortedKeys() {
        let v: JSONValue = .object([
            "b": .int(1),
            "a": .object(["d": .null, "c": .bool(true), "ab": .array([.object(["z": .int(0), "y": .int(1)])])]),
            "A": .string("x"),
            "é": .int(2),
            "z": .int(3),
            "": .int(4),
        ])
        #expect(v.canonicalText == #"{"":4,"A":"x","a":{"ab":[{"y":1,"z":0}],"c":true,"d":null},"b":1,"z":3,"é":2}"#)
    }

    @Test("canonical text has no white space, whatever the input had")
    func noWhiteSpace() throws {
        let text = " {\n \"b\" : [ 1 , 2 ,\t{ \"x\" : null } ] ,\r\n \"a\" : \"s p\" } \n"
        let v = try JSONValue(parsing: text)
        #expect(v.canonicalText == #"{"a":"s p","b":[1,2,{"x":null}]}"#)
    }

    @Test("canonical text of scalars")
    func scalars() throws {
        #expect(JSONValue.null.canonicalText == "null")
        #expect(JSONValue.bool(true).canonicalText == "true")
        #expect(JSONValue.bool(false).canonicalText == "false")
        #expect(JSONValue.int(-42).canonicalText == "-42")
        #expect(JSONValue.int(0).canonicalText == "0")
        #expect(JSONValue.int(1_000_000).canonicalText == "1000000")
        #expect(JSONValue.int(.max).canonicalText == "9223372036854775807")
        #expect(JSONValue.int(.min).canonicalText == "-9223372036854775808")
        #expect(JSONValue.double(0.5).canonicalText == "0.5")
        #expect(JSONValue.double(0.1).canonicalText == "0.1")
        #expect(JSONValue.double(-2.25).canonicalText == "-2.25")
        #expect(JSONValue.double(1000).canonicalText == "1000")
        #expect(JSONValue.double(-0.0).canonicalText == "0")
        #expect(JSONValue.double(.nan).canonicalText == "null")
        #expect(JSONValue.double(.infinity).canonicalText == "null")
        #expect(JSONValue.array([]).canonicalText == "[]")
        #expect(JSONValue.object([:]).canonicalText == "{}")
        #expect(JSONValue.string("").canonicalText == #""""#)
        #expect(JSONValue.string("é😀/").canonicalText == "\"é😀/\"")
        // A large double is written in a form that parses back to the same value.
        let big = JSONValue.double(1e20)
        #expect(try JSONValue(parsing: big.canonicalText) == big)
    }

    @Test("control characters, quotes and backslashes are escaped in output")
    func outputEscapes() throws {
        #expect(JSONValue.string("a\"b\\c").canonicalText == #""a\"b\\c""#)
        #expect(JSONValue.string("\n\r\t\u{08}\u{0C}").canonicalText == #""\n\r\t\b\f""#)
        #expect(JSONValue.string("x\u{00}y\u{01}\u{1F}").canonicalText == #""x\u0000y\u0001\u001f""#)
        #expect(JSONValue.object(["k\n": .string("v\u{02}")]).canonicalText == #"{"k\n":"v\u0002"}"#)
        // Every control character comes out escaped, and parses back.
        for c in 0..<0x20 {
            let s = "<" + String(Character(Unicode.Scalar(UInt8(c)))) + ">"
            let text = JSONValue.string(s).canonicalText
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 }, "U+\(c) unescaped")
            #expect(try JSONValue(parsing: text) == .string(s))
        }
        // 0x7F and non-ASCII are written as they are.
        #expect(JSONValue.string("\u{7F}ü").canonicalText == "\"\u{7F}ü\"")
    }

    // MARK: Parsing strings

    @Test("string escapes parse")
    func parseEscapes() throws {
        #expect(try JSONValue(parsing: #""a\nb""#) == .string("a\nb"))
        #expect(try JSONValue(parsing: #""caf\u00e9""#) == .string("café"))
        #expect(try JSONValue(parsing: #""caf\u00E9""#) == .string("café"))
        #expect(try JSONValue(parsing: #""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue(parsing: #""x\uD83D\uDE00y""#) == .string("x😀y"))
        #expect(try JSONValue(parsing: #""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONValue(parsing: #""\u0000""#) == .string("\u{0}"))
        #expect(try JSONValue(parsing: #""plain é 😀""#) == .string("plain é 😀"))
        #expect(try JSONValue(parsing: #""ab\u0041cd""#) == .string("abAcd"))
    }

    @Test("bad strings are refused", arguments: [
        #""\ud83d""#,          // lone high surrogate
        #""\ude00""#,          // lone low surrogate
        #""\ud83dx""#,         // high surrogate followed by text
        #""\ud83d\u0041""#,    // high surrogate followed by a non-surrogate
        #""\x""#,              // unknown escape
        #""\u12""#,            // short \u
        #""\u12g4""#,          // non-hex \u
        "\"a\nb\"",            // raw newline
        "\"a\u{01}b\"",        // raw control character
        "\"a\\",               // ends after a backslash
        #""abc"#,              // unterminated
        "'abc'",               // single quotes
    ])
    func badStrings(_ text: String) {
        #expect(parseError(text) != nil)
    }

    // MARK: Numbers

    @Test("integers and doubles are told apart")
    func numbers() throws {
        #expect(try JSONValue(parsing: "0") == .int(0))
        #expect(try JSONValue(parsing: "42") == .int(42))
        #expect(try JSONValue(parsing: "-7") == .int(-7))
        #expect(try JSONValue(parsing: "-0") == .int(0))
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(.max))
        #expect(try JSONValue(parsing: "-9223372036854775808") == .int(.min))
        #expect(try JSONValue(parsing: "1.5") == .double(1.5))
        #expect(try JSONValue(parsing: "-0.25") == .double(-0.25))
        #expect(try JSONValue(parsing: "1.0") == .double(1.0))
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(try JSONValue(parsing: "1E3") == .double(1000))
        #expect(try JSONValue(parsing: "1e+3") == .double(1000))
        #expect(try JSONValue(parsing: "25e-2") == .double(0.25))
        #expect(try JSONValue(parsing: "0.5e1") == .double(5))
        let negZero = try JSONValue(parsing: "-0.0")
        guard case .double(let d) = negZero else { Issue.record("-0.0 parsed as \(negZero)"); return }
        #expect(d == 0 && d.sign == .minus)
        #expect(negZero.canonicalText == "0")
        // Integral doubles are written as integers.
        #expect(try JSONValue(parsing: "1e3").canonicalText == "1000")
        #expect(try JSONValue(parsing: "1.0").canonicalText == "1")
    }

    @Test("number accessors")
    func accessors() {
        #expect(JSONValue.int(3).intValue == 3)
        #expect(JSONValue.double(3.0).intValue == 3)
        #expect(JSONValue.double(3.5).intValue == nil)
        #expect(JSONValue.double(1e16).intValue == nil)
        #expect(JSONValue.int(3).doubleValue == 3.0)
        #expect(JSONValue.string("3").intValue == nil)
        #expect(JSONValue.string("3").doubleValue == nil)
        #expect(JSONValue.object(["a": .int(1)])["a"] == .int(1))
        #expect(JSONValue.array([.int(1)])["a"] == nil)
        #expect(JSONValue.null.isNull)
        #expect(!JSONValue.bool(false).isNull)
        #expect(JSONValue.bool(false).boolValue == false)
        #expect(JSONValue.int(1).typeName == "number")
        #expect(JSONValue.double(1).typeName == "number")
        #expect(JSONValue.array([]).typeName == "array")
    }

    @Test("malformed numbers are refused", arguments: [
        "01", "-01", "00", "007", "01.5", "1.", ".5", "-", "+1", "1e", "1e+", "1.e3", "--1", "0x10", "1e400", "-1e400", "Infinity", "NaN",
    ])
    func badNumbers(_ text: String) {
        #expect(parseError(text) != nil, "\(text) accepted")
    }

    @Test("a number is kept exactly or refused, never quietly changed", arguments: [
        ("9223372036854775808", "integer out of range"),   // one past Int64.max: would come back as …5807 or a double
        ("12345678901234567890", "integer out of range"),  // an order id that a double would turn into …567000
        ("-9223372036854775809", "integer out of range"),
        ("1e-400", "too close to zero"),                   // would be stored as 0
        ("-2.5e-350", "too close to zero"),
        ("1e400", "number out of range"),
    ])
    func numbersThatCannotBeKept(_ text: String, says: String) throws {
        let error = try #require(parseError(#"{"n":\#(text)}"#))
        #expect(error.reason.contains(says), "\(error.reason)")
        #expect(error.offset == 5)
    }

    @Test("JSON someone else wrote is read as it is: the nearest double, 0 for an underflow")
    func lenientNumbers() throws {
        #expect(try JSONValue(parsing: "9223372036854775808", exactNumbers: false) == .double(9223372036854775808.0))
        #expect(try JSONValue(parsing: "1e-400", exactNumbers: false) == .double(0))
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "1e400", exactNumbers: false) }
    }

    @Test("zeros and the smallest doubles are kept")
    func smallNumbers() throws {
        #expect(try JSONValue(parsing: "0.0") == .double(0))
        #expect(try JSONValue(parsing: "-0.0e7") == .double(-0.0))
        #expect(try JSONValue(parsing: "0e-999") == .double(0))
        #expect(try JSONValue(parsing: "5e-324") == .double(5e-324))
        #expect(try JSONValue(parsing: "1.2345678901234567e+19") == .double(1.2345678901234567e19))
    }

    @Test("leading zeros are refused with a clear reason")
    func leadingZeros() throws {
        let e = try #require(parseError("[1,012]"))
        #expect(e.reason.contains("leading zeros"))
        #expect(e.description.contains("malformed JSON"))
    }

    // MARK: Structure

    @Test("nesting depth is limited: 63 levels parse, 65 are refused")
    func depthLimit() throws {
        #expect(JSONValue.maxDepth == 64)
        let ok = try JSONValue(parsing: nestedArrays(63))
        var v = ok, levels = 0
        while case .array(let a) = v { levels += 1; v = a.first ?? .null }
        #expect(levels == 63)
        #expect(ok.canonicalText == nestedArrays(63))
        #expect(try JSONValue(parsing: nestedArrays(63, inner: "1")) != .null)

        let e = try #require(parseError(nestedArrays(65)))
        #expect(e.reason.contains("nested deeper"))
        #expect(parseError(nestedArrays(65, inner: "1")) != nil)
        #expect(parseError(nestedArrays(100_000)) != nil, "hostile depth must not crash")

        let objects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(parseError(objects) != nil)
        let objects63 = String(repeating: #"{"a":"#, count: 63) + "1" + String(repeating: "}", count: 63)
        #expect(parseError(objects63) == nil)
    }

    @Test("trailing garbage is refused", arguments: [
        "1 x", "{} {}", "[1]]", "true false", "null,", "\"a\"\"b\"", "{\"a\":1}}", "[1] //",
    ])
    func trailingGarbage(_ text: String) throws {
        let e = try #require(parseError(text))
        #expect(e.offset > 0)
    }

    @Test("surrounding white space is fine")
    func surroundingWhiteSpace() throws {
        #expect(try JSONValue(parsing: " \n\t[1] \r\n") == .array([.int(1)]))
        #expect(try JSONValue(parsing: "  true  ") == .bool(true))
    }

    @Test("structural errors are refused", arguments: [
        "", " ", "[", "]", "{", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{1:1}",
        "{\"a\" 1}", "tru", "nul", "falsy", "True", "[1,\"a\":2]",
    ])
    func structuralErrors(_ text: String) {
        #expect(parseError(text) != nil, "\(text) accepted")
    }

    @Test("error offsets point at the problem")
    func errorOffsets() throws {
        #expect(try #require(parseError("[1,x]")).offset == 3)
        #expect(try #require(parseError("1 x")).offset == 2)
    }

    @Test("duplicate keys are refused")
    func duplicateKeys() throws {
        let e = try #require(parseError(#"{"a":1,"a":2}"#))
        #expect(e.reason.contains("duplicate key"))
        #expect(e.reason.contains("\"a\""))
        #expect(parseError(#"{"x":{"b":1,"c":2,"b":1}}"#) != nil)
        #expect(parseError(#"{"a":1,"\u0061":2}"#) != nil, "escaped spelling of the same key")
        #expect(try JSONValue(parsing: #"{"a":1,"A":2,"x":{"a":3}}"#) == .object(["a": .int(1), "A": .int(2), "x": .object(["a": .int(3)])]))
        #expect(try #require(parseError(#"{"a":1,"a":2}"#)).offset == 11, "at the second value")
    }

    /// Two keys that differ only in Unicode normalization are one key of a Swift dictionary:
    /// refused, and the message says why (it read as the same key twice).
    @Test("keys that differ only in Unicode normalization are refused as such")
    func canonicallyEquivalentKeys() throws {
        let e = try #require(parseError(#"{"\u00e9":1,"e\u0301":2}"#))
        #expect(e.reason == "keys \"\u{E9}\" (U+00E9) and \"e\u{301}\" (U+0065 U+0301) differ only in Unicode normalization; an object cannot hold both")
        #expect(try #require(parseError(#"{"\u00e9":1,"\u00e9":2}"#)).reason == "duplicate key \"\u{E9}\"")
    }

    /// Equal values give equal canonical text: strings and keys compare by their scalars, not by
    /// Swift's canonical equivalence (é as one scalar, and as e + U+0301, are different inputs).
    @Test("equality is exact, as the canonical text is")
    func equalityIsExact() throws {
        let composed = JSONValue.string("caf\u{E9}"), decomposed = JSONValue.string("cafe\u{301}")
        #expect(composed != decomposed)
        #expect(!composed.canonicalText.utf8.elementsEqual(decomposed.canonicalText.utf8))
        #expect(JSONValue.object(["\u{E9}": 1]) != .object(["e\u{301}": 1]))
        #expect(JSONValue.array([composed]) != .array([decomposed]))
        #expect(JSONValue.object(["k": composed, "n": 1]) == .object(["n": 1, "k": .string("caf\u{E9}")]))
        #expect(JSONValue.object(["k": 1]) != .object(["k": 1, "j": 2]))
        #expect(JSONValue.int(1) != .double(1))
        #expect(Set<JSONValue>([composed, decomposed]).count == 2)
    }

    @Test("objects of every size parse whole, and a key given twice is found wherever it is")
    func objectsOfEverySize() throws {
        // The parser holds a first member on its own and makes the dictionary at the second.
        for n in 0...20 {
            let members = (0..<n).map { "\"k\($0)\":\($0)" }
            let parsed = try JSONValue(parsing: "{" + members.joined(separator: ",") + "}")
            #expect(parsed == .object(Dictionary(uniqueKeysWithValues: (0..<n).map { ("k\($0)", JSONValue.int(Int64($0))) })))
            for first in 0..<n {
                for second in first..<n {
                    var twice = members
                    twice.insert("\"k\(first)\":\"again\"", at: second + 1)
                    let e = parseError("{" + twice.joined(separator: ",") + "}")
                    #expect(e?.reason == "duplicate key \"k\(first)\"", "k\(first) again after k\(second) of \(n)")
                }
            }
        }
    }

    // MARK: Round trip

    static let roundTripValues: [JSONValue] = [
        .null,
        .bool(true),
        .int(-123_456_789_012),
        .double(3.141592653589793),
        .double(1e-7),
        .double(-1.5e300),
        .string("tab\there \"quoted\" \\ back 😀 é \u{0} \u{1F}"),
        .array([]),
        .object([:]),
        .array([.int(1), .double(2.5), .string("three"), .null, .bool(false), .array([.array([.object([:])])])]),
        .object([
            "input": .object(["url": .string("https://example.com/a b.png"), "sizes": .array([.int(64), .int(128)])]),
            "nested": .object(["deeper": .object(["deepest": .array([.object(["k": .string("v\n")])])])]),
            "ünïcode": .string("✓"),
            "n": .double(-0.001),
        ]),
    ]

    @Test("parse(canonical(x)) == x", arguments: roundTripValues)
    func roundTrip(_ v: JSONValue) throws {
        let text = v.canonicalText
        let back = try JSONValue(parsing: text)
        #expect(back == v)
        #expect(back.canonicalText == text)
    }

    @Test("equal values give equal canonical text regardless of key order")
    func keyOrderIndependence() throws {
        let a = try JSONValue(parsing: #"{"x":1,"y":[true,{"p":1,"q":2}]}"#)
        let b = try JSONValue(parsing: #"{"y":[true,{"q":2,"p":1}],"x":1}"#)
        #expect(a == b)
        #expect(a.canonicalText == b.canonicalText)
    }
}
