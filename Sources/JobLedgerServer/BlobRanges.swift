import Foundation
import Hummingbird

/// Puts a `Range` request for a blob into the one form Hummingbird's `FileMiddleware` handles
/// correctly before it sees it: a single `bytes=first-last` inside the file. `FileMiddleware`
/// answers a range that starts at or past the end with a body longer than its `Content-Length`
/// (the extra byte lands in front of the next response on the connection), reads `bytes=-5` as
/// the first six bytes instead of the last five, and refuses an unknown unit. Here, as RFC 9110
/// § 14 has it:
/// - a suffix (`bytes=-n`) is the last n bytes; an open end (`bytes=a-`) runs to the end; a
///   last position past the end is cut to it;
/// - a range that starts past the end, or `bytes=-0`, is 416 with `Content-Range: bytes */size`;
/// - an unknown unit, several ranges, or a range that does not parse is ignored: the whole file;
/// - a HEAD ignores `Range` and describes the whole file.
struct BlobRanges: RouterMiddleware {
    typealias Context = BasicRequestContext

    let files: BlobFolderFiles
    let urlBasePath: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head, let header = request.headers[.range],
              request.uri.path.hasPrefix(urlBasePath + "/")
        else { return try await next(request, context) }
        var head = request.head
        // Whatever cannot be resolved here reaches FileMiddleware without its Range (the whole
        // file, or its 404): never a range it would answer wrongly.
        var resolution = Resolution.whole
        if let path = request.uri.path.removingPercentEncoding,
           let id = files.getFileIdentifier(String(path.dropFirst(urlBasePath.count))),
           let attributes = try await files.getAttributes(id: id) {
            // GET is the only method with ranges (RFC 9110 § 14.2): a HEAD describes the whole file.
            resolution = request.method == .head ? .whole : Self.resolve(header, size: attributes.size)
            // A conditional request is decided by FileMiddleware before any range (§ 13.2.2):
            // there an unsatisfiable range becomes the whole file, never a 416 that would
            // pre-empt a 304 or an If-Range that no longer matches.
            let conditional = request.headers[.ifRange] != nil || request.headers[.ifNoneMatch] != nil
            if case .unsatisfiable = resolution, !conditional {
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(attributes.size)", .contentLength: "0"])
            }
        }
        switch resolution {
        case .part(let range): head.headerFields[.range] = "bytes=\(range.lowerBound)-\(range.upperBound)"
        case .whole, .unsatisfiable: head.headerFields[.range] = nil
        }
        return try await next(Request(head: head, body: request.body), context)
    }

    enum Resolution: Equatable {
        /// Serve the whole file (no usable range).
        case whole
        /// Serve these bytes, all inside the file.
        case part(ClosedRange<Int>)
        /// 416.
        case unsatisfiable
    }

    /// What the `Range` header `value` asks of a file of `size` bytes.
    static func resolve(_ value: String, size: Int) -> Resolution {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }  // an unknown unit
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        // Digits only; more than an Int holds is past the end of any file (not malformed).
        func number(_ s: String) -> Int? { s.isEmpty || !s.allSatisfy(\.isASCII) || !s.allSatisfy(\.isNumber) ? nil : Int(s) ?? .max }
        switch (first.isEmpty, last.isEmpty) {
        case (true, true):
            return .whole
        case (true, false):  // the last n bytes
            guard let n = number(last) else { return .whole }
            guard n > 0 else { return .unsatisfiable }
            guard size > 0 else { return .whole }  // the last n bytes of nothing: the empty file
            return .part(max(0, size - n)...(size - 1))
        case (false, true):  // from a to the end
            guard let a = number(first) else { return .whole }
            return a < size ? .part(a...(size - 1)) : .unsatisfiable
        case (false, false):
            guard let a = number(first), let b = number(last), a <= b else { return .whole }
            return a < size ? .part(a...min(b, size - 1)) : .unsatisfiable
        }
    }
}
