import HTTPTypes
import Hummingbird

/// What every response tells a browser, and, without authentication, which `Host` a request
/// may name.
/// - Every response says `X-Content-Type-Options: nosniff` (a blob is never run as a script
///   or page whatever its bytes), `X-Frame-Options: DENY` and `frame-ancestors 'none'` (no
///   other site frames the dashboard to trick a click on an admin button), and
///   `Referrer-Policy: same-origin`.
/// - With `--insecure-no-auth` the server listens on loopback only, but a page of another site
///   can still reach it by DNS rebinding: a name of the attacker's that resolves to 127.0.0.1,
///   whose requests carry that name as `Host` (and as `Origin`, so the same-origin check
///   passes). Such a request is refused (421); loopback names (`localhost`, `127.x.x.x`,
///   `[::1]`, with any port) and a request without `Host` pass.
struct BrowserGuard: RouterMiddleware {
    typealias Context = BasicRequestContext

    /// Whether `Host` must be a loopback name (no authentication).
    let loopbackHostOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if loopbackHostOnly, let host = request.head.authority, !Self.isLoopback(host: host) {
            response = try Problem(.misdirectedRequest, "not-loopback-host",
                                   "this server runs without authentication and answers only to loopback names (localhost, 127.0.0.1, [::1]), not '\(host.prefix(100))'")
                .response(from: request, context: context)
        } else {
            response = try await next(request, context)
        }
        // Appended as one prepared block (no route sets any of them): four lookups and sets
        // cost every request, /healthz included, a few microseconds.
        response.headers.append(contentsOf: Self.headers)
        return response
    }

    static let headers: HTTPFields = [
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        .contentSecurityPolicy: "frame-ancestors 'none'",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

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
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
