import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger

/// Checks responses against `Sources/JobLedgerServer/Resources/openapi.json`: the status is one
/// the operation documents, the content type is the documented one, and a JSON body matches the
/// schema (type, required, properties, additionalProperties, items, enum, oneOf, bounds, $ref).
struct OpenAPIChecker {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/JobLedgerServer/Resources/openapi.json").path
    static let shared = OpenAPIChecker()
    let doc: JSONValue

    init() {
        doc = try! JSONValue(parsing: try! String(contentsOfFile: Self.path, encoding: .utf8))
    }

    struct Mismatch: Error, CustomStringConvertible { let description: String }

    /// Checks one response of `method template` (e.g. `GET /api/jobs/{id}`).
    func check(_ method: String, _ template: String, _ response: TestResponse) throws {
        try check(method, template, status: Int(response.status.code), contentType: response.headers[.contentType], body: response.body)
    }

    /// Checks one response given by its parts (one read off a raw connection).
    func check(_ method: String, _ template: String, status: Int, contentType: String?, body: ByteBuffer) throws {
        guard let op = doc["paths"]?[template]?[method.lowercased()] else { throw Mismatch(description: "\(method) \(template) is not documented") }
        let code = String(status)
        guard let listed = op["responses"]?[code] else {
            throw Mismatch(description: "\(method) \(template) answered \(code), which the document does not list: \(body.text.prefix(300))")
        }
        // A response shared by many operations is defined once, under components/responses.
        var documented = listed
        if let ref = listed["$ref"]?.stringValue, ref.hasPrefix("#/components/responses/") {
            guard let shared = doc["components"]?["responses"]?[String(ref.dropFirst("#/components/responses/".count))] else {
                throw Mismatch(description: "\(method) \(template) \(code): \(ref) is not defined")
            }
            documented = shared
        }
        guard case .object(let content)? = documented["content"] else {
            guard body.readableBytes == 0 else { throw Mismatch(description: "\(method) \(template) \(code): a body where none is documented") }
            return
        }
        let type = (contentType ?? "").split(separator: ";").first.map(String.init) ?? ""
        guard let media = content[type] else {
            throw Mismatch(description: "\(method) \(template) \(code): content type \(type) not in \(content.keys.sorted())")
        }
        guard type.hasSuffix("json"), let schema = media["schema"] else { return }
        guard let value = body.json else { throw Mismatch(description: "\(method) \(template) \(code): body is not JSON") }
        try validate(value, schema, at: "\(method) \(template) \(code) body")
    }

    func resolve(_ schema: JSONValue) -> JSONValue {
        if let ref = schema["$ref"]?.stringValue, ref.hasPrefix("#/components/schemas/") {
            return resolve(doc["components"]!["schemas"]![String(ref.dropFirst("#/components/schemas/".count))]!)
        }
        return schema
    }

    func validate(_ v: JSONValue, _ rawSchema: JSONValue, at path: String) throws {
        let s = resolve(rawSchema)
        if case .array(let options)? = s["oneOf"] {
            let matches = options.filter { (try? validate(v, $0, at: path)) != nil }.count
            guard matches == 1 else { throw Mismatch(description: "\(path): matches \(matches) of oneOf, not 1: \(v.canonicalText.prefix(200))") }
            return
        }
        let types: [String] = switch s["type"] {
        case .string(let t)?: [t]
        case .array(let a)?: a.compactMap(\.stringValue)
        default: []
        }
        if !types.isEmpty {
            let ok = types.contains { t in
                switch (t, v) {
                case ("null", .null), ("string", .string), ("boolean", .bool), ("object", .object), ("array", .array), ("integer", .int): true
                case ("number", .int), ("number", .double): true
                default: false
                }
            }
            guard ok else { throw Mismatch(description: "\(path): \(v.typeName) where \(types) is documented") }
        }
        if case .array(let allowed)? = s["enum"], !allowed.contains(v) {
            throw Mismatch(description: "\(path): \(v.canonicalText) is not one of \(allowed.map(\.canonicalText))")
        }
        if let n = v.doubleValue {
            if let min = s["minimum"]?.doubleValue, n < min { throw Mismatch(description: "\(path): \(n) < \(min)") }
            if let max = s["maximum"]?.doubleValue, n > max { throw Mismatch(description: "\(path): \(n) > \(max)") }
        }
        if case .object(let o) = v {
            if case .array(let required)? = s["required"] {
                for r in required.compactMap(\.stringValue) where o[r] == nil { throw Mismatch(description: "\(path): missing \(r)") }
            }
            let props: [String: JSONValue] = if case .object(let p)? = s["properties"] { p } else { [:] }
            for (k, value) in o {
                if let p = props[k] { try validate(value, p, at: path + "." + k) } else if let extra = s["additionalProperties"] {
                    if extra == .bool(false) { throw Mismatch(description: "\(path): undocumented property \(k)") }
                    if case .object = extra { try validate(value, extra, at: path + "." + k) }
                }
            }
        }
        if case .array(let items) = v, let itemSchema = s["items"] {
            for (i, item) in items.enumerated() { try validate(item, itemSchema, at: "\(path)[\(i)]") }
        }
    }
}

extension TestClientProtocol {
    /// Submits the design job `input` (checked against the document) as `auth`; its id.
    func submitDesign(_ auth: HTTPFields, input: String = #"{"input":{"prompt":"a red bicycle"}}"#) async throws -> String {
        try await api(.post, "/api/design", "/api/design", headers: auth, body: ByteBuffer(string: input)).body.json!["id"]!.stringValue!
    }

    /// Sends a request and checks the response against the OpenAPI document (`template` names
    /// the documented path).
    func api(_ method: HTTPRequest.Method, _ uri: String, _ template: String, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> TestResponse {
        let r = try await executeRequest(uri: uri, method: method, headers: headers, body: body)
        try OpenAPIChecker.shared.check(method.rawValue, template, r)
        return r
    }
}
