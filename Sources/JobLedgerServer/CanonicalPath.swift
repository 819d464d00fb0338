import Foundation
import Hummingbird

/// Answers only the canonical spelling of a path. Hummingbird's router skips empty segments,
/// so `//api/projections` and `/api/projections/` were served as `/api/projections`; and a
/// `.` or `..` segment reached a route as a value (`/api/jobs/..`: the job `..`) or, with a
/// blob folder, `FileMiddleware`'s bare 400 "Bad Request", which said nothing of the path.
/// - A path with a `.` or `..` segment (also percent-encoded, `%2e%2e`) is a 400
///   `invalid-path`: dot segments are for the client to resolve (RFC 3986 § 5.2.4), and no
///   address here has one (a job id is never only dots).
/// - A path with an empty segment (a doubled `/`, or a `/` at the end) is a 404 naming the
///   canonical path; `/` itself is the dashboard.
struct CanonicalPath: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let problem = Self.problem(method: request.method.rawValue, path: request.uri.path) { throw problem }
        return try await next(request, context)
    }

    /// Why `path` is not an address here, or nil when it is canonical.
    static func problem(method: String, path: String) -> Problem? {
        guard path != "/", path.hasPrefix("/"), mayNotBeCanonical(path) else { return nil }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if let dots = segments.lazy.compactMap(dotSegment).first {
            return Problem(.badRequest, "invalid-path",
                           "the path '\(Problem.quoted(path))' may not contain '\(dots)' (also written \(dots == "." ? "%2e" : "%2e%2e")) as a segment: "
                           + "dot segments are for the client to resolve (RFC 3986 § 5.2.4), and no address here has one")
        }
        if segments.contains(where: \.isEmpty) {
            let canonical = "/" + segments.filter { !$0.isEmpty }.joined(separator: "/")
            return Problem.notFound("no route \(Problem.quoted(method)) \(Problem.quoted(path)): the path has an empty segment "
                                    + "(a doubled '/' or a '/' at its end); the address is \(Problem.quoted(canonical))")
        }
        return nil
    }

    /// False when `path` has no doubled `/`, no `/` at its end, no `.` and no `%`: canonical,
    /// without splitting it (every request passes here).
    static func mayNotBeCanonical(_ path: String) -> Bool {
        var previous: UInt8 = 0
        for byte in path.utf8 {
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "%") || (byte == UInt8(ascii: "/") && previous == byte) { return true }
            previous = byte
        }
        return previous == UInt8(ascii: "/")
    }

    /// `.` or `..` when `segment` is one (each dot perhaps written `%2e` or `%2E`), else nil.
    static func dotSegment(_ segment: Substring) -> String? {
        let s = segment.lowercased().replacingOccurrences(of: "%2e", with: ".")
        return s == "." || s == ".." ? s : nil
    }
}
