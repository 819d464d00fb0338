import JobLedger
import JobLedgerProjections

/// The body of `POST /api/jobs/{kind}`: `{"input": {…}, "priority": n, "run_at": "…",
/// "max_attempts": n}`, all but `input` optional. Parsing checks everything the log would
/// refuse (and more), so a bad body is a 400/422 naming the field and changes nothing.
public struct SubmitRequest: Sendable, Hashable {
    /// The job's input.
    public var input: [String: JSONValue]
    /// −1,000,000…1,000,000; higher runs first.
    public var priority: Int
    /// Not before this time.
    public var runAt: Timestamp?
    /// 1…1000.
    public var maxAttempts: Int

    /// The largest body accepted (bytes).
    public static let maxBodyBytes = 64 * 1024

    /// Whether a `Content-Length` value declares more than `maxBodyBytes` (digits too many to
    /// be a number, leading zeros aside, are too large; NIO's parser lets only digits through).
    static func isOverLimit(contentLength value: String) -> Bool {
        let digits = value.drop { $0 == "0" }  // `0002` is 2
        return digits.utf8.count > 18 || (Int(digits).map { $0 > maxBodyBytes } ?? false)
    }
    /// The input key the log refuses in a new job's input (where the owner was once recorded).
    public static let reservedKey = EventPayload.Queued.legacyOwnerKey

    /// Parses and checks `text` for a job of a kind with `schema`.
    public init(parsing text: String, schema: KindSchema?) throws(Problem) {
        let body: JSONValue
        do { body = try JSONValue(parsing: text) } catch {
            throw Problem(.badRequest, "malformed-json", "the body is not JSON: \(error)", field: "body")
        }
        guard case .object(let o) = body else { throw Problem(.badRequest, "malformed-json", "the body must be a JSON object", field: "body") }
        let known: Set<String> = ["input", "priority", "run_at", "max_attempts"]
        if let extra = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw Problem.invalid(extra, "unknown field \(extra) (expected input, priority, run_at, max_attempts)")
        }
        guard let inputValue = o["input"] else { throw Problem.invalid("input", "input is required") }
        guard case .object(let input) = inputValue else { throw Problem.invalid("input", "input must be an object, not \(inputValue.typeName)") }
        if input[Self.reservedKey] != nil {
            throw Problem.invalid("input.\(Self.reservedKey)", "input.\(Self.reservedKey) is reserved (the job's owner is the token's subject)")
        }
        try schema?.validate(input)
        self.input = input
        priority = try Self.int(o["priority"], "priority", 0, -1_000_000...1_000_000)
        maxAttempts = try Self.int(o["max_attempts"], "max_attempts", 3, 1...1000)
        switch o["run_at"] {
        case nil, .null?: runAt = nil
        case .string(let s)?:
            guard let t = Timestamp(rfc3339: s) else {  // what the OpenAPI document's `format: date-time` means
                throw Problem.invalid("run_at", "run_at must be an RFC 3339 time like 2026-12-04T21:00:00Z or 2026-12-04T22:00:00+01:00")
            }
            guard PayloadRules.time.contains(t.milliseconds) else { throw Problem.invalid("run_at", "run_at must be within the years 0001…9999 (UTC)") }
            runAt = t
        case let v?: throw Problem.invalid("run_at", "run_at must be a string, not \(v.typeName)")
        }
    }

    static func int(_ v: JSONValue?, _ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(Problem) -> Int {
        guard let v, !v.isNull else { return fallback }
        // A whole number written with a fraction or an exponent (`5.0`, `1e2`, what Python's
        // json writes for a float) is an integer to JSON Schema, and so to the OpenAPI document.
        guard let n = v.intValue, n >= Int64(range.lowerBound), n <= Int64(range.upperBound) else {
            throw Problem.invalid(name, "\(name) must be a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(n)
    }

}
