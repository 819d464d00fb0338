import HTTPTypes
import Hummingbird

/// Answers a conditional `GET` or `HEAD` of a blob as RFC 9110 § 13.1.2 has it, before
/// Hummingbird's `FileMiddleware` sees it: that compares each `If-None-Match` line with the
/// file's ETag as a whole string, so a list (`"a", W/"b"`), `*`, or the tag without its `W/`
/// got the whole file (200) instead of 304. Here:
/// - `If-None-Match` that matches the file's current ETag (weak comparison, § 8.8.3.2), or `*`
///   while the file exists, is 304 with the headers a 200 would carry (`ETag`, `Last-Modified`,
///   `Content-Type`, …), before any `Range` (§ 13.2.2);
/// - one that does not match is removed, and `If-Modified-Since` with it (§ 13.1.3: it is
///   ignored when `If-None-Match` is present), so the file is served whole or in part.
/// The file's ETag is the one `FileMiddleware` sends: asked of it with a `HEAD`.
struct BlobConditionals: RouterMiddleware {
    typealias Context = BasicRequestContext

    let urlBasePath: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head, request.uri.path.hasPrefix(urlBasePath + "/"),
              let condition = IfNoneMatch(request.headers[values: .ifNoneMatch])
        else { return try await next(request, context) }
        var probe = request.head
        probe.method = .head
        for name in [HTTPField.Name.ifNoneMatch, .ifModifiedSince, .ifRange, .range] { probe.headerFields[name] = nil }
        let current = try await next(Request(head: probe, body: .init(buffer: ByteBuffer())), context)
        // No file (404), a refused path (400): the request as it came gets the same answer.
        guard current.status == .ok, let etag = current.headers[.eTag] else { return try await next(request, context) }
        if condition.matches(etag: etag) {
            return Response(status: .notModified, headers: current.headers)
        }
        var head = request.head
        head.headerFields[.ifNoneMatch] = nil
        head.headerFields[.ifModifiedSince] = nil
        return try await next(Request(head: head, body: request.body), context)
    }
}
