import HTTPTypes
import Hummingbird

/// What every `/blobs/…` answer tells a browser, so that a blob is never run as a page or
/// script on the dashboard's own origin (where the session cookie lives), whatever file a blob
/// store put in the folder: `/blobs/…` served an `x.html` as `text/html` and an `x.svg` as
/// `image/svg+xml`, which a browser opened at that address ran as a page of this origin.
/// - `Content-Security-Policy: default-src 'none'; sandbox`: nothing is loaded or run, and the
///   document is in a unique origin (no cookie, no script) even if a browser renders it. (The
///   `frame-ancestors 'none'` policy of every response stays beside it: both hold.) A page
///   showing the blob with `<img>` is not affected: a response's policy governs only the
///   document it is.
/// - `Content-Disposition: attachment` for every type but raster images and plain data
///   (`text/plain`, JSON): opened directly, it is downloaded, not shown. Images stay inline for
///   the dashboard's `<img>` and for a user opening one (an SVG is an attachment: it is a
///   document that can hold script).
enum BlobHeaders {
    static let policy = "default-src 'none'; sandbox"

    /// Adds the headers to a `/blobs/…` answer (every status: a 304, 404 or 416 too). A file of
    /// no known type (no extension, or one the server does not know) is sent as
    /// `application/octet-stream`, an attachment: it went out with neither field.
    static func add(to response: inout Response) {
        response.headers.append(HTTPField(name: .contentSecurityPolicy, value: policy))
        if response.headers[.contentType] == nil, response.status == .ok || response.status == .partialContent {
            response.headers[.contentType] = "application/octet-stream"
        }
        if let type = response.headers[.contentType], !isInline(type) {
            response.headers[.contentDisposition] = "attachment"
        }
    }

    /// Whether a blob of media type `contentType` is shown inline: a raster image, plain text or JSON.
    static func isInline(_ contentType: String) -> Bool {
        let media = JobLedgerServer.trimmingSpaces(contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]).lowercased()
        if media.hasPrefix("image/") { return media != "image/svg+xml" }
        return media == "text/plain" || media == "application/json"
    }
}
