import HTTPTypes
import Hummingbird

/// What every response tells a browser, and, without authentication, which `Host` a request
/// may name.
/// - Every response says `X-Content-Type-Options: nosniff` (a blob is never read as another
///   type than its own; `BlobHeaders` keeps it from running as a page), `X-Frame-Options:
///   DENY` and `frame-ancestors 'none'` (no other site frames the dashboard to trick a click
///   on an admin button), and
///   `Referrer-Policy: same-origin`; one without its own `Cache-Control` gets `no-store`. A
///   dashboard page adds a policy that lets it run only this server's scripts (`pagePolicy`).
/// - With `--insecure-no-auth` the server listens on loopback only, but a page of another site
///   can still reach it by DNS rebinding: a name of the attacker's that resolves to 127.0.0.1,
///   whose requests carry that name as `Host` (and as `Origin`, so the same-origin check
///   passes). Such a request is refused (421); loopback names (`localhost`, `127.x.x.x`,
///   `[::1]`, with any port) and an HTTP/1.0 request without `Host` pass. The name checked is
///   the one the request is for: an absolute-form target's authority
///   (`GET http://evil.example/ HTTP/1.1`) replaces `Host` (`RequestAuthority`).
/// - In any mode, a request with several `Host` fields, or one whose value is not a host with an
///   optional port (`127.0.0.1:80@evil.example`, `localhost:abc`, `127.0.0.1:99999`, an empty
///   one with a path as target), or an HTTP/1.1 request
///   without `Host`, is refused (400, RFC 9112 § 3.2): which name it is for is not known, and
///   the first one alone may not be the one a proxy or a browser acted on.
struct BrowserGuard: RouterMiddleware {
    typealias Context = BasicRequestContext

    /// Whether `Host` must be a loopback name (no authentication).
    let loopbackHostOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if let problem = Self.hostProblem(request) {
            response = try problem.response(from: request, context: context)
        } else if loopbackHostOnly, let host = request.head.authority, !Self.isLoopback(host: host) {
            response = try Problem(.misdirectedRequest, "not-loopback-host",
                                   "this server runs without authentication and answers only to loopback names (localhost, 127.0.0.1, [::1]), not '\(host.prefix(100))'")
                .response(from: request, context: context)
        } else {
            response = try await next(request, context)
        }
        // Appended as one prepared block (no route sets any of them): four lookups and sets
        // cost every request, /healthz included, a few microseconds.
        response.headers.append(contentsOf: Self.headers)
        // What a user may see is not kept by a browser or a shared cache for the next user of
        // the machine (the pages and the API's answers depend on the session); routes with
        // their own rules (static files, streams) keep them, and blobs (published once, under
        // names of their own, revalidated by ETag) are left to the browser's usual caching.
        // (The raw path, not `request.uri`, which parses: every request, /healthz too, pays it.)
        if (request.head.path ?? "").hasPrefix("/blobs/") {
            BlobHeaders.add(to: &response)
        } else if response.headers[.cacheControl] == nil {
            response.headers.append(HTTPField(name: .cacheControl, value: "no-store"))
        }
        return response
    }

    /// What a dashboard page may load (`JSONResponse.html` sends it): only this server's
    /// scripts, styles and data (no inline script; inline `style` attributes draw the progress
    /// bars); images may come from a blob store elsewhere. Every other answer carries only
    /// `frame-ancestors 'none'` (a few hundred bytes less on each).
    static let pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        + "img-src 'self' data: blob: http: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        + "form-action 'self'; frame-ancestors 'none'"

    static let headers: HTTPFields = [
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        .contentSecurityPolicy: "frame-ancestors 'none'",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static let hostField = HTTPField.Name("Host")!
    static let missingHostField = HTTPField.Name(RequestAuthority.missingHostMarker)!

    /// Why the request's `Host` cannot be used (400), or nil. The conversion to HTTP types
    /// takes the first `Host` field as the request's authority and leaves any other in the
    /// header fields, where they are counted here.
    static func hostProblem(_ request: Request) -> Problem? {
        if request.headers[missingHostField] != nil {
            return Problem(.badRequest, "invalid-header", "an HTTP/1.1 request must have a Host field (RFC 9112 § 3.2)", field: "Host")
        }
        let others = request.headers[values: hostField].count
        if others > 0 {
            return Problem(.badRequest, "invalid-header", "the request has \(others + 1) Host fields; send one (RFC 9112 § 3.2)", field: "Host")
        }
        // An empty Host is for a target without an authority (RFC 9112 § 3.2); a path (an
        // origin-form target, or `http:///x`, whose empty host RFC 9110 § 4.2.1 makes invalid) has
        // one, so an empty Host names no host. It passed (200; 421 without authentication).
        if let host = request.head.authority, host.isEmpty, (request.head.path ?? "").hasPrefix("/") {
            return Problem(.badRequest, "invalid-header",
                           "Host is empty; send the host name or address the request is for, with an optional port (RFC 9112 § 3.2)", field: "Host")
        }
        if let host = request.head.authority, !isHostAndPort(host) {
            return Problem(.badRequest, "invalid-header",
                           "Host '\(Problem.quoted(host))' is not a host name or address with an optional port 0…65535 (RFC 9110 § 7.2)", field: "Host")
        }
        return nil
    }

    /// Whether `text` is `uri-host [ ":" port ]` (RFC 9110 § 7.2, RFC 3986 § 3.2.2): an
    /// IP literal in brackets, or a name or IPv4 address of unreserved characters, sub-delims
    /// and percent-encodings, then perhaps `:` and digits, a port of 0…65535 (leading zeros
    /// allowed, as RFC 3986's `*DIGIT`). No user info (`@`), no second colon.
    /// Empty is allowed here (the value for a target without an authority); `hostProblem`
    /// refuses it for a target with a path.
    static func isHostAndPort(_ text: String) -> Bool {
        let b = Array(text.utf8)
        var i = 0
        let unreservedOrSubDelim = { (c: UInt8) -> Bool in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
                 UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: "%"):
                true
            default: false
            }
        }
        if b.first == UInt8(ascii: "[") {
            guard let close = b.firstIndex(of: UInt8(ascii: "]")), close > 1,
                  b[1..<close].allSatisfy({ unreservedOrSubDelim($0) || $0 == UInt8(ascii: ":") }) else { return false }
            i = close + 1
        } else {
            while i < b.count, b[i] != UInt8(ascii: ":") {
                guard unreservedOrSubDelim(b[i]) else { return false }
                i += 1
            }
        }
        guard i < b.count else { return true }
        guard b[i] == UInt8(ascii: ":") else { return false }
        // A port is a TCP port: `127.0.0.1:99999` named none, yet passed as loopback.
        var port = 0
        for c in b[(i + 1)...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return false }
            port = port * 10 + Int(c - UInt8(ascii: "0"))
            guard port <= 65535 else { return false }
        }
        return true
    }

    /// Whether `host` (a `Host` value: a name or address, perhaps with a port) is loopback.
    static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("[") {  // [::1] or [::1]:8080
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.lastIndex(of: ":") { name = String(name[..<colon]) }
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        return Loopback.isIPv4(name)
    }
}
