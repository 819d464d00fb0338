import Hummingbird

/// Turns every error a route throws into a problem-details response: `Problem`s as they are,
/// Hummingbird's own `HTTPError`s (an unknown route, a body over the limit) with their status,
/// and anything else as a 500 that names only the error's type, so no message that might carry
/// a secret or a body leaves the server. A storage fault behind a 503 goes to `storage`, which
/// logs it once per episode (with the log's path, which the response does not name) and makes
/// `/readyz` say so.
struct ErrorMapping: RouterMiddleware {
    typealias Context = BasicRequestContext

    let storage: StorageWatch
    /// The methods each routed path answers: a method with no route where others have one is
    /// a 405 with `Allow`, not a 404.
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let p as Problem {
            if let fault = p.storageFault { storage.failed(fault, during: "answering \(request.method) \(Problem.quoted(request.uri.path))", logger: context.logger) }
            // A refusal is the client's business; a 5xx is the operator's, with its cause.
            if p.status.code >= 500, let cause = p.cause {
                context.logger.error("request failed: \(p.detail)", metadata: ["cause": "\(cause)", "path": "\(Problem.quoted(request.uri.path))"])
            }
            return try p.response(from: request, context: context)
        } catch let e as HTTPError where e.status == .notFound && allowed.refuses(request.method, on: request.uri.path) {
            let methods = allowed.methods(for: request.uri.path).map(\.rawValue).joined(separator: ", ")
            return try Problem(.methodNotAllowed, "method-not-allowed",
                               "\(Problem.quoted(request.method.rawValue)) is not a method of \(Problem.quoted(request.uri.path)) (it answers \(methods))",
                               headers: [.allow: methods]).response(from: request, context: context)
        } catch let e as HTTPError {
            let slug = e.status == .notFound ? "not-found" : e.status == .contentTooLarge ? "too-large" : Self.isRefusedBlobPath(e.status, request) ? "invalid-path" : "http-error"
            let detail = e.status == .notFound ? "no route \(Problem.quoted(request.method.rawValue)) \(Problem.quoted(request.uri.path))" : (e.body ?? Self.detail(for: e.status, request))
            return try Problem(e.status, slug, detail).response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error_type": "\(type(of: error))", "path": "\(request.uri.path)"])
            return try Problem(.internalServerError, "internal", "internal error (\(type(of: error)))").response(from: request, context: context)
        }
    }

    /// What an `HTTPError` without a message means. The one `FileMiddleware` throws for a
    /// `/blobs/` path with `..` in it said only "Bad Request".
    static func detail(for status: HTTPResponse.Status, _ request: Request) -> String {
        guard isRefusedBlobPath(status, request) else { return status.reasonPhrase }
        return "a /blobs path may not contain '..' (also written %2e%2e)"
    }

    /// A `/blobs/` path `FileMiddleware` refused (`..` anywhere in it, a bad percent-encoding):
    /// `invalid-path`, as `CanonicalPath` calls the paths it refuses (it was `http-error`).
    static func isRefusedBlobPath(_ status: HTTPResponse.Status, _ request: Request) -> Bool {
        status == .badRequest && request.uri.path.hasPrefix("/blobs/")
    }
}
