import Hummingbird
import JobLedger
import JobLedgerSQLite

/// An RFC 9457 problem-details error: every refusal of the API is one, sent as
/// `application/problem+json` with `type`, `title`, `status`, `detail` and, when a request field
/// is at fault, `field` naming it (`priority`, `input.prompt`, the `Idempotency-Key` header).
/// It never carries a token, a secret or a request body.
public struct Problem: Error, HTTPResponseError, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// A short, stable slug: the problem's `type` is `/problems/<slug>`.
    public var slug: String
    /// What went wrong, for people.
    public var detail: String
    /// The request field at fault, when there is one.
    public var field: String?
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, `RateLimit-*`).
    public var headers: HTTPFields
    /// For a 5xx, what the server's own log says caused it (the storage error behind "the log
    /// could not be read"); never sent to the client.
    public var cause: String?
    /// For a 503 of a storage fault, the fault (its path and free space included): the server
    /// notes it and logs it once per episode (`StorageWatch`); never sent to the client.
    public var storageFault: StorageFault?

    /// A problem with its parts.
    public init(_ status: HTTPResponse.Status, _ slug: String, _ detail: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status; self.slug = slug; self.detail = detail; self.field = field; self.headers = headers
    }

    /// The JSON object sent.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "type": .string("/problems/\(slug)"), "title": .string(status.reasonPhrase),
            "status": .int(Int64(status.code)), "detail": .string(detail),
        ]
        if let field { o["field"] = .string(field) }
        return .object(o)
    }

    /// `<status> <slug>: <detail>`, with `(field …)` when a field is at fault: for logs and tests.
    public var description: String { "\(status.code) \(slug): \(detail)" + (field.map { " (field \($0))" } ?? "") }

    /// The `application/problem+json` response: `json` as the body, `status`, and `headers`
    /// (`cause` and `storageFault` are never sent).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var h = headers
        h[.contentType] = "application/problem+json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: json.canonicalText)))
    }
}

extension Problem {
    /// Client text quoted in a `detail` (a kind, a path): at most 100 Unicode scalars, then `…`,
    /// so that a refusal does not send back whatever a client put in a URL of up to 80 KiB.
    /// Counted in scalars, not characters: one character can be a letter with thousands of
    /// combining marks after it.
    static func quoted(_ text: some StringProtocol) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > 100 else { return String(text) }
        return String(String.UnicodeScalarView(scalars.prefix(100))) + "…"
    }

    /// 400: a field of the body (or a header) is invalid.
    static func invalid(_ field: String, _ detail: String) -> Problem {
        Problem(.unprocessableContent, "invalid-field", detail, field: field)
    }
    /// 404: nothing (visible to this caller) at this address.
    static func notFound(_ detail: String) -> Problem { Problem(.notFound, "not-found", detail) }
    /// 401 with a `WWW-Authenticate` challenge that names the reason, never the token. A request
    /// with no token gets the bare challenge (`Bearer realm="jobledger"`): RFC 6750 § 3.1 keeps
    /// error codes for credentials that were sent.
    static func unauthorized(_ reason: String, tokenSent: Bool = true) -> Problem {
        var h = HTTPFields()
        h[.wwwAuthenticate] = tokenSent
            ? "Bearer realm=\"jobledger\", error=\"invalid_token\", error_description=\"\(reason.replacingOccurrences(of: "\"", with: "'"))\""
            : "Bearer realm=\"jobledger\""
        return Problem(.unauthorized, "unauthorized", reason, headers: h)
    }
    /// 403: authenticated, but not allowed.
    static func forbidden(_ detail: String) -> Problem { Problem(.forbidden, "forbidden", detail) }
    /// 503: the log is paused by a storage fault, or the server is shutting down.
    /// A 503 the client may send again as it is: with `Retry-After` (5 s unless told).
    static func unavailable(_ detail: String, retryAfterSeconds: Int = 5) -> Problem {
        var h = HTTPFields()
        h[.retryAfter] = "\(retryAfterSeconds)"
        return Problem(.serviceUnavailable, "unavailable", detail, headers: h)
    }
}
