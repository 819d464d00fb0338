import HTTPTypes
import Hummingbird

/// Answers a conditional `GET` or `HEAD` of a blob as RFC 9110 § 13.2.2 orders it, before
/// Hummingbird's `FileMiddleware` sees it (that compares each `If-None-Match` line and
/// `If-Range` with the file's ETag as a whole string, and knows neither `If-Match` nor
/// `If-Unmodified-Since`). The file's ETag is weak (`W/"…"`, from its time and size), as
/// `FileMiddleware` makes it; the file's `ETag` and `Last-Modified` are asked of it with a `HEAD`.
/// 1. `If-Match` (§ 13.1.1, strong comparison): `*` passes while the file exists, a listed tag
///    never does (the ETag is weak): 412 `precondition-failed`, with `ETag` and `Last-Modified`.
/// 2. Without `If-Match`, `If-Unmodified-Since` (§ 13.1.4): a file changed after the date is a
///    412; a value that is not an HTTP date is ignored.
/// 3. `If-None-Match` that matches (weak comparison, § 8.8.3.2), or `*`: 304 with the headers a
///    200 would carry, before any `Range`; one that does not match is removed, and
///    `If-Modified-Since` with it (§ 13.1.3).
/// 4. `If-Range` (§ 13.1.5) needs a strong validator: an entity tag matches only strongly (so
///    never the weak ETag), and a date only when it is the file's `Last-Modified` and that is at
///    least a second before now (§ 8.8.2.2: the file cannot have changed twice within that second
///    since); otherwise the `Range` is dropped and the whole file is the answer (200).
struct BlobConditionals: RouterMiddleware {
    typealias Context = BasicRequestContext

    let urlBasePath: String
    /// Milliseconds since 1970 (the server's clock).
    let now: @Sendable () -> Int64

    static let preconditions: [HTTPField.Name] = [.ifMatch, .ifUnmodifiedSince, .ifNoneMatch, .ifRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head, request.uri.path.hasPrefix(urlBasePath + "/"),
              Self.preconditions.contains(where: { request.headers[$0] != nil })
        else { return try await next(request, context) }
        var probe = request.head
        probe.method = .head
        for name in Self.preconditions + [.ifModifiedSince, .range] { probe.headerFields[name] = nil }
        let current = try await next(Request(head: probe, body: .init(buffer: ByteBuffer())), context)
        // No file (404), a refused path (400): the request as it came gets the same answer.
        guard current.status == .ok, let etag = current.headers[.eTag] else { return try await next(request, context) }
        let lastModified = current.headers[.lastModified].flatMap(HTTPDate.seconds)
        if let failed = Self.failedPrecondition(request.headers, etag: etag, lastModified: lastModified) {
            var validators = HTTPFields()
            validators[.eTag] = etag
            if let lm = current.headers[.lastModified] { validators[.lastModified] = lm }
            throw Problem(.preconditionFailed, "precondition-failed", failed, field: request.headers[.ifMatch] != nil ? "If-Match" : "If-Unmodified-Since",
                          headers: validators)
        }
        var head = request.head
        head.headerFields[.ifMatch] = nil
        head.headerFields[.ifUnmodifiedSince] = nil
        if let condition = IfNoneMatch(request.headers[values: .ifNoneMatch]) {
            if condition.matches(etag: etag) { return Response(status: .notModified, headers: current.headers) }
            head.headerFields[.ifNoneMatch] = nil
            head.headerFields[.ifModifiedSince] = nil
        }
        if let ifRange = request.headers[.ifRange] {
            if !Self.ifRangeMatches(ifRange, etag: etag, lastModified: lastModified, now: now() / 1000) { head.headerFields[.range] = nil }
            head.headerFields[.ifRange] = nil
        }
        return try await next(Request(head: head, body: request.body), context)
    }

    /// Why `If-Match` or `If-Unmodified-Since` fails for a file with `etag`, last changed at
    /// `lastModified` (seconds), or nil when they pass (or are absent).
    static func failedPrecondition(_ headers: HTTPFields, etag: String, lastModified: Int64?) -> String? {
        if let ifMatch = IfMatch(headers[values: .ifMatch]) {
            guard ifMatch.matches(etag: etag) else {
                return "If-Match does not match the file's ETag \(etag) (strong comparison: a blob's ETag is weak, so only * matches)"
            }
            return nil
        }
        if let value = headers[.ifUnmodifiedSince], let date = HTTPDate.seconds(value), let lastModified, lastModified > date {
            return "the file was modified after If-Unmodified-Since (\(Problem.quoted(value)))"
        }
        return nil
    }

    /// Whether `If-Range: value` lets a `Range` through for a file with `etag` and
    /// `lastModified` (seconds), at `now` (seconds).
    static func ifRangeMatches(_ value: String, etag: String, lastModified: Int64?, now: Int64) -> Bool {
        let v = JobLedgerServer.trimmingSpaces(Substring(value))
        if v.hasPrefix("\"") || v.hasPrefix("W/") { return IfMatch([String(v)]).map { !$0.any && $0.matches(etag: etag) } ?? false }
        guard let date = HTTPDate.seconds(String(v)), let lastModified else { return false }
        return date == lastModified && lastModified + 1 <= now
    }
}
