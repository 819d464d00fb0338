import Hummingbird

/// Runs `inner` only for paths under `prefix` (`/blobs`); any other request goes straight on.
/// Hummingbird's `FileMiddleware` looks at every request no route answered, and refuses one
/// whose path has `..` anywhere with a bare 400 before it checks its own base path: `/api/jobs/a..b`
/// (no such job, a 404) was a 400 "Bad Request".
struct PathPrefixed<Inner: RouterMiddleware>: RouterMiddleware where Inner.Context == BasicRequestContext {
    typealias Context = BasicRequestContext

    let prefix: String
    let inner: Inner

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == prefix || path.hasPrefix(prefix + "/") else { return try await next(request, context) }
        return try await inner.handle(request, context: context, next: next)
    }
}
