import Foundation
import JobLedger
import Logging

/// The production `BlobStore`: publishes job artefacts to a Vercel Blob store through its HTTP
/// API, as the official SDKs (`@vercel/blob` 2.x, `vercel-blob` 0.5) speak it: the same
/// endpoints, headers (`x-api-version`, `x-vercel-blob-access`, `x-content-type`,
/// `x-cache-control-max-age`, the request id and attempt headers) and error codes.
///
/// - **Idempotent uploads.** The blob projection's pathnames are deterministic and carry a
///   content hash, so every upload is sent with `x-add-random-suffix: 0` and
///   `x-allow-overwrite: 1`: a retried or replayed upload (even one whose first response was
///   lost after the store took it) lands at the same pathname and yields the same URL, which
///   `publicURL(for:)` knows without asking the network.
/// - **Large bodies** (at least `multipartThreshold`) go up in parts: create, parts of
///   `partSize` (≥ 5 MiB, all equal but the last) with `partConcurrency` in flight, complete;
///   each request is retried on its own.
/// - **Retries.** Each request is tried up to `1 + retries` times, with exponential backoff and
///   full jitter capped at `retryCap`, on what the official JS SDK retries (503
///   `service_unavailable`, `internal_server_error`, `unknown_error`, non-JSON 5xx, network
///   errors), on timeouts, and on 429 `rate_limited` after its `retry-after` (which the JS SDK
///   does not retry). What is still failing becomes `SinkError.unavailable` for the projection
///   runner's own backoff; a bad token, a suspended or missing store and other refusals are
///   `SinkError.rejected` at once (a dead letter), with a message that says what to fix.
/// - **Secrets.** The token goes only into the `authorization` header of requests to the
///   configured API URL; redirects are never followed; descriptions, errors and log lines never
///   show it.
public struct VercelBlobStore: BlobStore, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The token, API URL and tuning the store uses.
    public let configuration: VercelBlobConfiguration
    private let transport: any VercelBlobTransport
    let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> Date

    /// A store for `configuration`. `sleep` waits between retries (tests shorten it).
    public init(configuration: VercelBlobConfiguration, transport: any VercelBlobTransport = VercelBlobURLSessionTransport(),
                logger: Logger = Logger(label: "jobledger.vercel-blob"),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.sleep = sleep
        self.now = now
    }

    /// A store configured from the environment (`VercelBlobConfiguration(environment:)`).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                transport: any VercelBlobTransport = VercelBlobURLSessionTransport(),
                logger: Logger = Logger(label: "jobledger.vercel-blob")) throws(VercelBlobConfigurationError) {
        self.init(configuration: try VercelBlobConfiguration(environment: environment), transport: transport, logger: logger)
    }

    /// The store id (from the token), named in messages and in the blob URLs.
    public var storeID: String { configuration.storeID }

    // MARK: - BlobStore

    /// Uploads `bytes` at `pathname` (overwriting, no random suffix) and returns its URL.
    public func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
        do {
            let blob = try await upload(pathname: pathname, bytes: bytes, contentType: contentType)
            return BlobInfo(pathname: blob.pathname, url: blob.url, size: Int64(bytes.count), contentType: blob.contentType ?? contentType)
        } catch {
            throw error.sinkError
        }
    }

    /// The blob at `pathname`, or nil when there is none. When the answer lacks them, the size is 0
    /// and the content type is guessed from the pathname. Throws `.unavailable` when worth
    /// retrying, else `.rejected`.
    public func head(pathname: String) async throws(SinkError) -> BlobInfo? {
        do {
            guard let b = try await metadata(of: pathname) else { return nil }
            return BlobInfo(pathname: b.pathname, url: b.url, size: b.size ?? 0,
                            contentType: b.contentType ?? BlobPathname.contentType(forPathname: b.pathname))
        } catch {
            throw error.sinkError
        }
    }

    /// Every blob whose pathname starts with `prefix`, in pathname order, in pages of 1000; content
    /// types are guessed from the pathnames (a listing does not carry them).
    public func list(prefix: String) async throws(SinkError) -> [BlobInfo] {
        do {
            return try await blobs(prefix: prefix).map {
                BlobInfo(pathname: $0.pathname, url: $0.url, size: $0.size ?? 0, contentType: BlobPathname.contentType(forPathname: $0.pathname))
            }
        } catch {
            throw error.sinkError
        }
    }

    /// Removes the blob at `pathname`; removing a missing blob is not an error.
    public func delete(pathname: String) async throws(SinkError) {
        do { try await delete([pathname]) } catch { throw error.sinkError }
    }

    /// Removes the blobs at `pathnames` in requests of `deleteBatchSize`; missing ones are not an
    /// error. A failed request throws, and the batches before it stay deleted.
    public func delete(pathnames: [String]) async throws(SinkError) {
        do { try await delete(pathnames) } catch { throw error.sinkError }
    }

    /// `https://<store id>.<access>.blob.vercel-storage.com/<pathname>`: where a blob is served,
    /// known without the network (what `replay` shows for artefacts the log has no URL for).
    public func publicURL(for pathname: String) -> String? { configuration.publicURL(for: pathname) }

    // MARK: - The API

    /// Uploads `bytes` at `pathname` — in one request, or in parts from `multipartThreshold` on —
    /// with no random suffix and overwriting, and returns what the store answered.
    public func upload(pathname: String, bytes: Data, contentType: String) async throws(VercelBlobError) -> VercelBlob {
        if bytes.count >= configuration.multipartThreshold && bytes.count > configuration.partSize {
            return try await multipartUpload(pathname: pathname, bytes: bytes, contentType: contentType)
        }
        let op = "put \(pathname)"
        let r = try await call(op, method: "PUT", path: "/?" + Self.query([("pathname", pathname)]),
                               headers: putHeaders(contentType: contentType), body: bytes)
        return try putResult(r, operation: op, pathname: pathname)
    }

    /// The blob at `pathnameOrURL` (a pathname, or its URL), or nil when there is none.
    public func metadata(of pathnameOrURL: String) async throws(VercelBlobError) -> VercelBlob? {
        let op = "head \(pathnameOrURL)"
        do throws(VercelBlobError) {
            let r = try await call(op, method: "GET", path: "?" + Self.query([("url", pathnameOrURL)]), headers: [])
            let o = try object(r, operation: op)
            guard let b = Self.blob(o) else { throw invalid(op, r, "no url or pathname") }
            return try checked(b, operation: op, r)
        } catch where error.kind == .notFound {
            return nil
        }
    }

    /// One page of the blobs whose pathname starts with `prefix`, in pathname order, from
    /// `cursor` (nil: the first page); `limit` 1…1000 (nil: the API's default, 1000).
    public func page(prefix: String? = nil, cursor: String? = nil, limit: Int? = nil) async throws(VercelBlobError) -> VercelBlobPage {
        var params: [(String, String)] = []
        if let limit { params.append(("limit", "\(max(1, min(1000, limit)))")) }
        if let prefix, !prefix.isEmpty { params.append(("prefix", prefix)) }
        if let cursor { params.append(("cursor", cursor)) }
        let op = "list \(prefix ?? "")*"
        let r = try await call(op, method: "GET", path: "?" + Self.query(params), headers: [])
        let o = try object(r, operation: op)
        guard let items = o["blobs"] as? [[String: Any]] else { throw invalid(op, r, "no blobs") }
        let hasMore = o["hasMore"] as? Bool ?? false
        let next = o["cursor"] as? String
        if hasMore && (next ?? "").isEmpty { throw invalid(op, r, "hasMore without a cursor") }
        var blobs: [VercelBlob] = []
        for b in items.compactMap(Self.blob) { blobs.append(try checked(b, operation: op, r)) }
        return VercelBlobPage(blobs: blobs, cursor: hasMore ? next : nil, hasMore: hasMore)
    }

    /// Every blob whose pathname starts with `prefix`, following the cursors (pages of `limit`).
    public func blobs(prefix: String? = nil, limit: Int = 1000) async throws(VercelBlobError) -> [VercelBlob] {
        var out: [VercelBlob] = []
        var cursor: String?
        repeat {
            let p = try await page(prefix: prefix, cursor: cursor, limit: limit)
            out += p.blobs
            cursor = p.hasMore ? p.cursor : nil
        } while cursor != nil
        return out
    }

    /// Deletes the blobs at `pathnamesOrURLs`, in requests of `deleteBatchSize` (1…1000);
    /// missing ones are no error. Calls `progress` with the number done after each request.
    public func delete(_ pathnamesOrURLs: [String], progress: (Int) -> Void = { _ in }) async throws(VercelBlobError) {
        let size = max(1, min(1000, configuration.deleteBatchSize))
        var done = 0
        while done < pathnamesOrURLs.count {
            let batch = Array(pathnamesOrURLs[done..<min(done + size, pathnamesOrURLs.count)])
            let body = Data(JSONValue.object(["urls": .array(batch.map(JSONValue.string))]).canonicalText.utf8)
            let op = batch.count == 1 ? "delete \(batch[0])" : "delete \(batch.count) blobs"
            _ = try await call(op, method: "POST", path: "/delete", headers: [("content-type", "application/json")], body: body)
            done += batch.count
            progress(done)
        }
    }

    /// Copies the blob at `source` (a pathname or URL) to `pathname` in the same store, on the
    /// server (metadata is not carried over: the content type is the one given, or the store's
    /// guess from the extension), overwriting, and returns the copy.
    public func copy(from source: String, to pathname: String, contentType: String? = nil) async throws(VercelBlobError) -> VercelBlob {
        let op = "copy \(source) to \(pathname)"
        let r = try await call(op, method: "PUT", path: "/?" + Self.query([("pathname", pathname), ("fromUrl", source)]),
                               headers: putHeaders(contentType: contentType))
        return try putResult(r, operation: op, pathname: pathname)
    }

    // MARK: - Requests

    /// The headers of a put, a copy and every multipart step, as the SDKs send them.
    func putHeaders(contentType: String?) -> [(String, String)] {
        var h: [(String, String)] = [("x-vercel-blob-access", configuration.access.rawValue)]
        if let contentType { h.append(("x-content-type", contentType)) }
        h += [("x-add-random-suffix", "0"), ("x-allow-overwrite", "1"), ("x-cache-control-max-age", "\(configuration.cacheControlMaxAge)")]
        return h
    }

    /// Sends one API request, tried up to `1 + retries` times; returns the 2xx response.
    func call(_ operation: String, method: String, path: String, headers: [(String, String)],
                      body: Data = Data()) async throws(VercelBlobError) -> VercelBlobHTTPResponse {
        let url = URL(string: configuration.apiURL.absoluteString + path)!
        // Constant across the tries of one call, as `@vercel/blob` sends it.
        let requestID = "\(storeID):\(Int64(now().timeIntervalSince1970 * 1000)):\(Self.randomHex(8))"
        var uncertain = false
        var attempt = 0
        while true {
            var h: [(name: String, value: String)] = [
                ("authorization", "Bearer " + configuration.token.reveal()),
                ("x-api-version", "\(configuration.apiVersion)"),
                ("x-api-blob-request-id", requestID),
                ("x-api-blob-request-attempt", "\(attempt)"),
                ("x-vercel-blob-store-id", storeID),
            ]
            h += headers.map { (name: $0.0, value: $0.1) }
            let request = VercelBlobHTTPRequest(method: method, url: url, headers: h, body: body, timeout: configuration.requestTimeout)
            var failure: VercelBlobError
            do {
                let response = try await transport.send(request)
                guard var e = VercelBlobError.classify(response, operation: operation, storeID: storeID,
                                                       secret: configuration.token.reveal(), now: now())
                else { return response }
                e.afterUncertainTry = uncertain
                failure = e
            } catch {
                let kind: VercelBlobError.Kind = switch error {
                case .timedOut: .timedOut
                case .connectionFailed: .network
                case .cutOff: .cutOff
                case .cancelled: .cancelled
                }
                failure = VercelBlobError(kind: kind, operation: operation, detail: error.description, storeID: storeID)
                failure.afterUncertainTry = uncertain
                // No answer: the request may have been carried out.
                if kind != .cancelled { uncertain = true }
            }
            guard failure.isRetryable, attempt < configuration.retries, !Task.isCancelled else {
                if failure.isRetryable {
                    logger.warning("Vercel Blob request failed", metadata: ["operation": "\(operation)", "tries": "\(attempt + 1)", "error": "\(failure)"])
                }
                throw failure
            }
            let wait: Duration
            if let after = failure.retryAfterMilliseconds {
                // A wait longer than the cap is the projection runner's to make (it keeps the
                // item's place and honours the retry-after).
                guard after <= Self.milliseconds(configuration.retryCap) else { throw failure }
                wait = .milliseconds(after)
            } else {
                let ceiling = min(Self.milliseconds(configuration.retryCap), Self.milliseconds(configuration.retryBase) << min(attempt, 20))
                wait = .milliseconds(Int64.random(in: 0...max(0, ceiling)))
            }
            logger.info("Vercel Blob request will be tried again", metadata: [
                "operation": "\(operation)", "attempt": "\(attempt)", "wait": "\(wait)", "error": "\(failure.kind.rawValue) \(failure.status.map(String.init) ?? "")",
            ])
            do { try await sleep(wait) } catch {
                throw VercelBlobError(kind: .cancelled, operation: operation, storeID: storeID)
            }
            attempt += 1
        }
    }

    func object(_ r: VercelBlobHTTPResponse, operation: String) throws(VercelBlobError) -> [String: Any] {
        guard let o = try? JSONSerialization.jsonObject(with: r.body) as? [String: Any] else {
            throw invalid(operation, r, "not a JSON object")
        }
        return o
    }

    func invalid(_ operation: String, _ r: VercelBlobHTTPResponse, _ what: String) -> VercelBlobError {
        VercelBlobError(kind: .invalidResponse, operation: operation, status: r.status, detail: what, storeID: storeID)
    }

    /// The blob an upload (a put, a copy, a completed multipart upload) made at `pathname`.
    func putResult(_ r: VercelBlobHTTPResponse, operation: String, pathname: String) throws(VercelBlobError) -> VercelBlob {
        guard let b = Self.blob(try object(r, operation: operation)) else { throw invalid(operation, r, "no url or pathname") }
        return try checked(b, operation: operation, r, pathname: pathname)
    }

    /// `b` when its URL is where the store serves its pathname (`pathname`, when given: the one
    /// asked for), `publicURL(for:)`, and its download URL is that URL with a query. An answer
    /// that says otherwise (another host, a `javascript:` URL …) is not what Vercel Blob answers
    /// and must not reach the log or a browser: it is an `invalidResponse`, retried as the other
    /// bad answers are; its URL is not repeated.
    func checked(_ b: VercelBlob, operation: String, _ r: VercelBlobHTTPResponse, pathname: String? = nil) throws(VercelBlobError) -> VercelBlob {
        let expected = configuration.publicURL(for: pathname ?? b.pathname)
        guard b.url == expected else {
            throw invalid(operation, r, "the url it gives is not \(expected), where the store serves the blob")
        }
        guard b.downloadURL.hasPrefix(expected + "?") else {
            throw invalid(operation, r, "the downloadUrl it gives is not \(expected)?download=1")
        }
        return b
    }

    static func blob(_ o: [String: Any]) -> VercelBlob? {
        guard let url = o["url"] as? String, let pathname = o["pathname"] as? String else { return nil }
        let size: Int64? = (o["size"] as? NSNumber)?.int64Value
        return VercelBlob(url: url, downloadURL: o["downloadUrl"] as? String ?? url + "?download=1", pathname: pathname, size: size,
                          uploadedAt: (o["uploadedAt"] as? String).flatMap(Self.date), contentType: o["contentType"] as? String,
                          contentDisposition: o["contentDisposition"] as? String, cacheControl: o["cacheControl"] as? String,
                          etag: o["etag"] as? String)
    }

    static func date(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }

    /// `a=1&b=2`, each value percent-encoded as `URLSearchParams` does (unreserved kept).
    static func query(_ params: [(String, String)]) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")
        return params.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    /// JavaScript's `encodeURIComponent` (how `@vercel/blob` puts the multipart key in a header).
    static func encodeURIComponent(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }

    // MARK: - Showing it

    /// `VercelBlobStore(store: …, access: public, api: …)`: what it talks to, never the token.
    public var description: String {
        "VercelBlobStore(store: \(storeID), access: \(configuration.access.rawValue), api: \(configuration.redactedAPIURL), token: <redacted>)"
    }

    /// The same as `description`.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: the configuration (itself redacted), never the token.
    public var customMirror: Mirror {
        Mirror(self, children: ["configuration": configuration], displayStyle: .struct)
    }
}
