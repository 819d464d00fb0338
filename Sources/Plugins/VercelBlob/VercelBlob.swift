import Foundation

/// What Vercel Blob says about one blob (a put, copy, head or list result). Fields a given
/// answer does not carry are nil (a put result has no size, a list entry no content type).
public struct VercelBlob: Sendable, Hashable {
    /// The public (or private) URL, `https://<store>.<access>.blob.vercel-storage.com/<pathname>`.
    public var url: String
    /// The same URL with `?download=1` (served as an attachment).
    public var downloadURL: String
    public var pathname: String
    public var size: Int64?
    public var uploadedAt: Date?
    public var contentType: String?
    public var contentDisposition: String?
    public var cacheControl: String?
    /// The ETag, with its quotes (`"…"`).
    public var etag: String?

    public init(url: String, downloadURL: String, pathname: String, size: Int64? = nil, uploadedAt: Date? = nil,
                contentType: String? = nil, contentDisposition: String? = nil, cacheControl: String? = nil, etag: String? = nil) {
        self.url = url; self.downloadURL = downloadURL; self.pathname = pathname; self.size = size; self.uploadedAt = uploadedAt
        self.contentType = contentType; self.contentDisposition = contentDisposition; self.cacheControl = cacheControl; self.etag = etag
    }
}

/// One page of a listing.
public struct VercelBlobPage: Sendable, Hashable {
    public var blobs: [VercelBlob]
    /// Where the next page starts (opaque), when `hasMore`.
    public var cursor: String?
    public var hasMore: Bool

    public init(blobs: [VercelBlob], cursor: String?, hasMore: Bool) {
        self.blobs = blobs; self.cursor = cursor; self.hasMore = hasMore
    }
}
