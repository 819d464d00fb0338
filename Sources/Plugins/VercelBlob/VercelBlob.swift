import Foundation

/// What Vercel Blob says about one blob (a put, copy, head or list result). Fields a given
/// answer does not carry are nil (a put result has no size, a list entry no content type).
public struct VercelBlob: Sendable, Hashable {
    /// The public (or private) URL, `https://<store>.<access>.blob.vercel-storage.com/<pathname>`.
    public var url: String
    /// The same URL with `?download=1` (served as an attachment).
    public var downloadURL: String
    /// The blob's pathname in the store.
    public var pathname: String
    /// Its size in bytes; nil when the answer does not carry it (a put result).
    public var size: Int64?
    /// When it was uploaded; nil when the answer does not carry it.
    public var uploadedAt: Date?
    /// The content type it is served with; nil when the answer does not carry it (a list entry).
    public var contentType: String?
    /// The `content-disposition` it is served with; nil when the answer does not carry it.
    public var contentDisposition: String?
    /// The `cache-control` it is served with; nil when the answer does not carry it.
    public var cacheControl: String?
    /// The ETag, with its quotes (`"…"`).
    public var etag: String?

    /// A blob with these values; the fields not given are nil (tests).
    public init(url: String, downloadURL: String, pathname: String, size: Int64? = nil, uploadedAt: Date? = nil,
                contentType: String? = nil, contentDisposition: String? = nil, cacheControl: String? = nil, etag: String? = nil) {
        self.url = url; self.downloadURL = downloadURL; self.pathname = pathname; self.size = size; self.uploadedAt = uploadedAt
        self.contentType = contentType; self.contentDisposition = contentDisposition; self.cacheControl = cacheControl; self.etag = etag
    }
}

/// One page of a listing.
public struct VercelBlobPage: Sendable, Hashable {
    /// The blobs of this page, in pathname order.
    public var blobs: [VercelBlob]
    /// Where the next page starts (opaque), when `hasMore`.
    public var cursor: String?
    /// True when more blobs follow: ask for the next page with `cursor`.
    public var hasMore: Bool

    /// A page with these values (tests).
    public init(blobs: [VercelBlob], cursor: String?, hasMore: Bool) {
        self.blobs = blobs; self.cursor = cursor; self.hasMore = hasMore
    }
}
