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
/// - Under `/blobs/`, whose files `FileMiddleware` finds by the decoded path, a percent-encoded
///   `/` (`%2f`) or unreserved character (`%66` for `f`, RFC 3986 § 6.2.2.2) spells another
///   address: `jobs%2f<id>%2ffinal.png` was served as `jobs/<id>/final.png`, and
///   `%2e%2e%2fdb.sqlite` reached `FileMiddleware`'s bare 400. Decoded, a path with a dot
///   segment is a 400 `invalid-path` like the others, and any other a 404 naming the address.
///   (A route's segment is not decoded into segments: `/api/jobs/a%2fb` is the job `a/b`.)
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
        if path.hasPrefix(filesPrefix) {
            let decoded = decodingUnreserved(path)
            guard decoded != path else { return nil }
            let parts = decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            if let dots = parts.lazy.compactMap(dotSegment).first {
                return Problem(.badRequest, "invalid-path",
                               "the path '\(Problem.quoted(path))' is '\(Problem.quoted(decoded))' once its percent-encoded '/' (%2f) and unreserved characters are decoded, "
                               + "and may not contain '\(dots)' as a segment: dot segments are for the client to resolve (RFC 3986 § 5.2.4), and no address here has one")
            }
            let canonical = "/" + parts.filter { !$0.isEmpty }.joined(separator: "/")
            return Problem.notFound("no route \(Problem.quoted(method)) \(Problem.quoted(path)): the path percent-encodes a '/' (%2f) or an unreserved character "
                                    + "(a letter, digit, '-', '.', '_' or '~'), and only a path's canonical spelling is served; the address is \(Problem.quoted(canonical))")
        }
        return nil
    }

    /// The paths whose percent-encodings are decoded into the path itself (the blob folder's).
    static let filesPrefix = "/blobs/"

    /// `path` with each percent-encoded `/` and unreserved character (RFC 3986 § 2.3) decoded;
    /// other encodings (`%20`, `%C3%A9`) are left as they are.
    static func decodingUnreserved(_ path: String) -> String {
        let b = Array(path.utf8)
        guard b.contains(UInt8(ascii: "%")) else { return path }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let hi = hex(b[i + 1]), let lo = hex(b[i + 2]) {
                let c = hi << 4 | lo
                let isAlnum = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                if isAlnum || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/")].contains(c) {
                    out.append(c); i += 3; continue
                }
            }
            out.append(b[i]); i += 1
        }
        return String(decoding: out, as: UTF8.self)
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
