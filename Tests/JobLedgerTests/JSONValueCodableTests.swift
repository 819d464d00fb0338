import Foundation
import Testing
@testable import JobLedger

/// The bridge between `JSONValue` and `Codable` types that typed jobs travel through.
@Suite("JSONValue ⇄ Codable")
struct JSONValueCodableTests {
    struct Poster: Codable, Hashable {
        var prompt: String
        var size: Int
        var scale: Double?
        var layers: [String]
        var meta: JSONValue
    }

    let poster = Poster(prompt: "a red \"bicycle\"\n✓", size: 512, scale: 1.5, layers: ["bg", "fg"],
                        meta: ["deep": [true, .null, -3, 0.25, ["k": "v"]]])

    @Test("a Codable value becomes the JSON its encoder writes, and decodes back")
    func roundTrip() throws {
        let json = try JSONValue(encoding: poster)
        #expect(json == ["prompt": "a red \"bicycle\"\n✓", "size": 512, "scale": 1.5, "layers": ["bg", "fg"],
                         "meta": ["deep": [true, .null, -3, 0.25, ["k": "v"]]]])
        #expect(try json.decode(as: Poster.self) == poster)
        // Through the log's text form too.
        #expect(try JSONValue(parsing: json.canonicalText).decode(as: Poster.self) == poster)
    }

    @Test("a JSONValue encodes and decodes as the JSON it is", arguments: [
        JSONValue.null, true, false, 0, -7, 9_007_199_254_740_993, 0.5, -1e300, "", "ä\u{0}",
        [], [1, "a", [.null]], [:], ["a": ["b": ["c": 1]]],
    ])
    func jsonValueIsCodable(_ v: JSONValue) throws {
        let data = try JSONEncoder().encode(v)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == v)
        #expect(try JSONValue(encoding: v) == v)
        #expect(try v.decode(as: JSONValue.self) == v)
    }

    @Test("a value that does not fit says which field and why")
    func decodingFailures() throws {
        func failure(_ json: JSONValue) -> String {
            do { _ = try json.decode(as: Poster.self); return "decoded" } catch { return JSONValue.decodingFailureSummary(error) }
        }
        guard case .object(var o) = try JSONValue(encoding: poster) else { Issue.record("not an object"); return }
        o["size"] = nil
        #expect(failure(.object(o)) == "missing field 'size'")
        o["size"] = "big"
        #expect(failure(.object(o)).hasPrefix("field 'size': "))
        o["size"] = 1
        o["layers"] = ["bg", 2]
        #expect(failure(.object(o)).hasPrefix("field 'layers[1]': "), "\(failure(.object(o)))")
        o["layers"] = .null
        #expect(failure(.object(o)).hasPrefix("field 'layers': expected Array") && failure(.object(o)).hasSuffix(", found null"))
        #expect(failure("text").hasPrefix("the value: "))
        #expect(JSONValue.decodingFailureSummary(JSONParseError(offset: 3, reason: "x")) == "malformed JSON at byte 3: x")
    }

    @Test("what JSON cannot hold is refused when encoding")
    func encodingFailures() {
        var p = poster
        p.scale = .nan
        #expect(throws: EncodingError.self) { try JSONValue(encoding: p) }
        #expect(throws: JSONParseError.self) { try JSONValue(encoding: JSONValue(parsingDepth: JSONValue.maxDepth + 1)) }
    }
}

extension JSONValue {
    /// Arrays nested `depth` deep.
    init(parsingDepth depth: Int) {
        var v: JSONValue = []
        for _ in 1..<depth { v = [v] }
        self = v
    }
}
