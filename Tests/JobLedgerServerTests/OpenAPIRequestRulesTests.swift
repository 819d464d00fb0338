import Foundation
import HTTPTypes
import Hummingbird
import JobLedger
@testable import JobLedgerServer
import Testing

/// The OpenAPI document was looser than the server (schemathesis: "schema-valid request
/// rejected"): `Idempotency-Key` had no pattern though the server takes visible ASCII only,
/// `/api/jobs/{kind}` took any input for `design`, which needs a prompt, `cursor` any string,
/// `run_at` any `date-time` (a leap second, ten fraction digits). Each pattern of the document
/// is checked here against what the server's own check accepts, value by value.
@Suite struct OpenAPIRequestRulesTests {
    static var doc: JSONValue { OpenAPIChecker.shared.doc }

    static func parameter(_ path: String, _ method: String, _ name: String) -> JSONValue? {
        guard case .array(let ps)? = doc["paths"]?[path]?[method]?["parameters"] else { return nil }
        return ps.first { $0["name"]?.stringValue == name }
    }

    static func matches(_ pattern: String, _ text: String) throws -> Bool {
        let r = try NSRegularExpression(pattern: pattern)
        return r.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    @Test func idempotencyKeysTheDocumentAllowsAreTheOnesTheServerTakes() throws {
        for path in ["/api/design", "/api/jobs/{kind}"] {
            let schema = try #require(Self.parameter(path, "post", "Idempotency-Key")?["schema"])
            let pattern = try #require(schema["pattern"]?.stringValue, "\(path)")
            let max = try #require(schema["maxLength"]?.intValue)
            for key in ["abc", "a-b_c:1", "!~", "with space", "a\tb", "é", String(repeating: "k", count: 255), String(repeating: "k", count: 256)] {
                var head = HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/api/design")
                head.headerFields[JobLedgerServer.idempotencyHeader] = key
                let request = Request(head: head, body: .init(buffer: ByteBuffer()))
                let accepted = (try? JobLedgerServer.idempotencyKey(request)) != nil
                let documented = try Self.matches(pattern, key) && key.count <= max
                #expect(accepted == documented, "\(path) \(key.debugDescription): server \(accepted), document \(documented)")
            }
        }
    }

    @Test func runAtTheDocumentAllowsIsWhatTheServerTakes() throws {
        let schema = try #require(Self.doc["components"]?["schemas"]?["SubmitRequest"]?["properties"]?["run_at"])
        let pattern = try #require(schema["pattern"]?.stringValue)
        for t in ["2026-12-04T21:00:00Z", "2026-12-04t21:00:00z", "2026-12-04T21:00:00.5Z", "2026-12-04T21:00:00.123456789+01:00",
                  "2026-12-04T21:00:00-00:00", "2026-12-04T23:59:60Z", "2026-12-04T21:00:00.1234567890Z", "2026-12-04T24:00:00Z",
                  "2026-13-04T21:00:00Z", "2026-12-04T21:00Z", "2026-12-04 21:00:00Z", "2026-12-04T21:00:00+0100"] {
            let accepted = (try? SubmitRequest(parsing: #"{"input":{},"run_at":"\#(t)"}"#, schema: nil)) != nil
            #expect(accepted == (try Self.matches(pattern, t)), "\(t): server \(accepted)")
        }
    }

    /// The server takes `null` for `priority`, `run_at` and `max_attempts` (the default, as if
    /// absent), which the document typed as integer and string only; `input: null` is refused,
    /// and the document says so too.
    @Test func nullIsDocumentedWhereTheServerTakesIt() throws {
        let properties = try #require(Self.doc["components"]?["schemas"]?["SubmitRequest"]?["properties"])
        for name in ["input", "priority", "run_at", "max_attempts"] {
            let accepted = (try? SubmitRequest(parsing: name == "input" ? #"{"input":null}"# : #"{"input":{},"\#(name)":null}"#, schema: nil)) != nil
            let types: [String] = switch properties[name]?["type"] {
            case .string(let t)?: [t]
            case .array(let a)?: a.compactMap(\.stringValue)
            default: []
            }
            #expect(accepted == types.contains("null"), "\(name): server \(accepted), document \(types)")
        }
    }

    @Test func cursorsAndLastEventIDsOfTheRightFormOnly() throws {
        let cursor = try #require(Self.parameter("/api/jobs", "get", "cursor")?["schema"]?["pattern"]?.stringValue)
        for text in ["019a-b", "order-42:poster", "a.b", "...", ".", "a/b", "a b", "é"] {
            let valid = (try? JobID(text)) != nil
            #expect(valid == (try Self.matches(cursor, text)), "\(text)")
        }
        for path in ["/api/jobs/{id}/stream", "/api/live"] {
            let seq = try #require(Self.parameter(path, "get", "Last-Event-ID")?["schema"]?["pattern"]?.stringValue, "\(path)")
            for (text, ok) in [("1", true), ("007", true), ("+1", false), ("-1", false), ("1 ", false)] { #expect(try Self.matches(seq, text) == ok, "\(path) \(text)") }
            #expect(Self.parameter(path, "get", "last_event_id")?["schema"]?["pattern"] == "^[0-9]*$", "\(path)")
        }
    }

    @Test func theGenericSubmitRouteDocumentsTheKindsServedAndDesignsInput() throws {
        let kind = try #require(Self.parameter("/api/jobs/{kind}", "post", "kind")?["schema"])
        #expect(kind["enum"] == .array(["design"]))
        let body = Self.doc["paths"]?["/api/jobs/{kind}"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]?["$ref"]
        #expect(body == "#/components/schemas/DesignRequest")
        // What that schema requires is what the server refuses for design.
        #expect(throws: Problem.self) { try SubmitRequest(parsing: #"{"input":{}}"#, schema: .design) }
    }
}
