import Foundation
import JobLedgerHTTP

/// A Vercel Blob read-write token (`vercel_blob_rw_<store id>_<secret>`) that never shows
/// itself: its `description`, `debugDescription` and mirror print `<redacted>`, so it cannot leak
/// into a log line, an error or a `dump`. `reveal()` is for the `authorization` header only.
public struct VercelBlobToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// The prefix of every read-write token.
    public static let readWritePrefix = "vercel_blob_rw_"

    /// The store id inside the token, as the official SDKs read it: the fourth `_`-separated
    /// field (`token.split("_")[3]` in `@vercel/blob`; the Python SDK partitions after the prefix,
    /// which is the same). Store ids contain letters and digits (and `-`), never `_`.
    public let storeID: String

    /// Checks the token's shape; the error says what is wrong without repeating the value.
    public init(_ value: String) throws(VercelBlobConfigurationError) {
        let v = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard v.hasPrefix(Self.readWritePrefix) else {
            throw .invalid(variable: "BLOB_READ_WRITE_TOKEN",
                           reason: "is not a Vercel Blob read-write token: it must start with \(Self.readWritePrefix) (copy BLOB_READ_WRITE_TOKEN from the store's page in the Vercel dashboard, or from `vercel env pull`)")
        }
        let rest = v.dropFirst(Self.readWritePrefix.count)
        guard let sep = rest.firstIndex(of: "_") else {
            throw .invalid(variable: "BLOB_READ_WRITE_TOKEN",
                           reason: "has no store id: a read-write token looks like \(Self.readWritePrefix)<store id>_<secret>")
        }
        let store = String(rest[..<sep])
        let secret = rest[rest.index(after: sep)...]
        guard !store.isEmpty, store.utf8.allSatisfy({ Self.isStoreIDByte($0) }) else {
            throw .invalid(variable: "BLOB_READ_WRITE_TOKEN",
                           reason: "has an invalid store id (letters, digits and '-' expected after \(Self.readWritePrefix))")
        }
        guard !secret.trimmingCharacters(in: CharacterSet(charactersIn: "_")).isEmpty else {
            throw .invalid(variable: "BLOB_READ_WRITE_TOKEN", reason: "has no secret after its store id")
        }
        guard v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid(variable: "BLOB_READ_WRITE_TOKEN", reason: "contains spaces or characters that cannot go in an HTTP header")
        }
        self.value = v
        self.storeID = store
    }

    static func isStoreIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-")
    }

    /// The token itself, for the `authorization` header. Never log it.
    public func reveal() -> String { value }

    /// `<redacted>`: the token never shows in logs.
    public var description: String { "<redacted>" }
    /// `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// A mirror with the store id only (not a secret: it is in every blob URL), never the token.
    public var customMirror: Mirror { Mirror(self, children: ["storeID": storeID], displayStyle: .struct) }
}

/// How JobLedger talks to Vercel Blob, read from the environment variables the web app and the
/// official SDKs already use (plus JobLedger's own tuning). The token is held as a
/// `VercelBlobToken`, so printing or dumping a configuration never shows it.
///
/// | variable | meaning |
/// | --- | --- |
/// | `BLOB_READ_WRITE_TOKEN` | the store's read-write token (required; `VERCEL_BLOB_READ_WRITE_TOKEN` is read when it is unset, as the Python SDK does); the store id is taken from it |
/// | `VERCEL_BLOB_API_URL` | the API base (default `https://vercel.com/api/blob`; `NEXT_PUBLIC_VERCEL_BLOB_API_URL` is read when it is unset); a trailing `/` is dropped |
/// | `VERCEL_BLOB_API_VERSION_OVERRIDE` | the `x-api-version` sent (default 12, what `@vercel/blob` 2.x and `vercel-blob` 0.5 send) |
/// | `JOBLEDGER_VERCEL_BLOB_ACCESS` | `public` (default) or `private`: must match the store |
/// | `JOBLEDGER_VERCEL_BLOB_CACHE_MAX_AGE` | seconds browsers and the CDN may cache a blob, 60…315360000 (default 2592000, one month, the SDKs' default) |
/// | `JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS` | per-request timeout without progress, 1000…600000 (default 60000, the Python SDK's), in whole seconds (rounded up); a whole request is cut off at ten times it (at least a minute) |
/// | `JOBLEDGER_VERCEL_BLOB_RETRIES` | retries of one request inside one upload, 0…10 (default 3); the projection's outbox retries after that |
/// | `JOBLEDGER_VERCEL_BLOB_MULTIPART_MIN_BYTES` | bodies of this size or more go through multipart (default 16 MiB) |
/// | `JOBLEDGER_VERCEL_BLOB_PART_BYTES` | multipart part size, 5 MiB…5 GiB (default 8 MiB, as `@vercel/blob`) |
/// | `JOBLEDGER_VERCEL_BLOB_PART_CONCURRENCY` | parts in flight at once, 1…16 (default 4) |
public struct VercelBlobConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Who may read the store's blobs.
    public enum Access: String, Sendable, Hashable, CaseIterable {
        /// Anyone with the URL (what a browser can show).
        case `public`
        /// Only requests with the token.
        case `private`
    }

    /// The API base the current SDKs use (`@vercel/blob` ≥ 1.0.2; it was `blob.vercel-storage.com` before).
    public static let defaultAPIURL = URL(string: "https://vercel.com/api/blob")!
    /// The `x-api-version` the current SDKs send.
    public static let defaultAPIVersion = 12
    /// The SDKs' default cache lifetime, one month.
    public static let defaultCacheMaxAge = 2_592_000
    /// The per-request timeout when `JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS` is unset: 60 seconds (the Python SDK's).
    public static let defaultRequestTimeout: Duration = .seconds(60)
    /// Retries of one request when `JOBLEDGER_VERCEL_BLOB_RETRIES` is unset: 3.
    public static let defaultRetries = 3
    /// Bodies of this many bytes or more go up in parts when `JOBLEDGER_VERCEL_BLOB_MULTIPART_MIN_BYTES` is
    /// unset: 16 MiB.
    public static let defaultMultipartThreshold = 16 * 1024 * 1024
    /// `@vercel/blob`'s part size; every part but the last has exactly this size.
    public static let defaultPartSize = 8 * 1024 * 1024
    /// The smallest part Vercel Blob accepts (except the last).
    public static let minimumPartSize = 5 * 1024 * 1024
    /// The largest part size `JOBLEDGER_VERCEL_BLOB_PART_BYTES` may set: 5 GiB.
    public static let maximumPartSize = 5 * 1024 * 1024 * 1024
    /// Parts in flight at once when `JOBLEDGER_VERCEL_BLOB_PART_CONCURRENCY` is unset: 4.
    public static let defaultPartConcurrency = 4

    /// The store's read-write token; prints as `<redacted>`.
    public var token: VercelBlobToken
    /// The store id (from the token); it names the store's public host.
    public var storeID: String { token.storeID }
    /// The API base, without a trailing `/`.
    public var apiURL: URL
    /// The `x-api-version` sent with every request (default 12).
    public var apiVersion: Int
    /// The store's access (default `public`): sent as `x-vercel-blob-access` and part of the blob
    /// URLs' host; it must match the store's.
    public var access: Access
    /// `x-cache-control-max-age`, in seconds.
    public var cacheControlMaxAge: Int
    /// How long one request may go without progress before it counts as timed out (default 60
    /// seconds), counted in whole seconds: a fraction is rounded up (FoundationNetworking would
    /// drop it, and end a request under a second at once).
    public var requestTimeout: Duration
    /// Retries of one request (after its first try) inside one store call.
    public var retries: Int
    /// First backoff between retries of one request; doubles each time, full jitter.
    public var retryBase: Duration = .milliseconds(250)
    /// Longest backoff between retries of one request, and the longest `retry-after` waited out
    /// inside a call (a longer one is handed to the projection runner, which waits it out).
    public var retryCap: Duration = .seconds(8)
    /// Bodies of at least this many bytes are uploaded in parts.
    public var multipartThreshold: Int
    /// Bytes per part of a multipart upload, the last part excepted (default 8 MiB; Vercel Blob
    /// refuses a smaller part than `minimumPartSize`).
    public var partSize: Int
    /// Parts uploaded at once (default 4; below 1 counts as 1).
    public var partConcurrency: Int
    /// Targets per delete request (the API takes 1…1000).
    public var deleteBatchSize = 1000
    /// The host suffix of public and private blob URLs.
    public var deliveryDomain = "blob.vercel-storage.com"

    /// A configuration given directly (tests, embedding).
    public init(token: VercelBlobToken, apiURL: URL = defaultAPIURL, apiVersion: Int = defaultAPIVersion,
                access: Access = .public, cacheControlMaxAge: Int = defaultCacheMaxAge,
                requestTimeout: Duration = defaultRequestTimeout, retries: Int = defaultRetries,
                multipartThreshold: Int = defaultMultipartThreshold, partSize: Int = defaultPartSize,
                partConcurrency: Int = defaultPartConcurrency) {
        self.token = token
        self.apiURL = Self.trimmed(apiURL)
        self.apiVersion = apiVersion
        self.access = access
        self.cacheControlMaxAge = cacheControlMaxAge
        self.requestTimeout = requestTimeout
        self.retries = retries
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.partConcurrency = partConcurrency
    }

    /// Reads the configuration from environment variables (by default the process's). Empty
    /// values count as unset. Throws naming the first missing or malformed variable, never
    /// showing a value.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(VercelBlobConfigurationError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        guard let raw = value("BLOB_READ_WRITE_TOKEN") ?? value("VERCEL_BLOB_READ_WRITE_TOKEN") else {
            throw .missing(variable: "BLOB_READ_WRITE_TOKEN",
                           hint: "Set it to the store's read-write token (vercel_blob_rw_…): the Vercel dashboard shows it on the store's page, and `vercel env pull` writes it to .env.local.")
        }
        let token = try VercelBlobToken(raw)

        var api = Self.defaultAPIURL
        for name in ["VERCEL_BLOB_API_URL", "NEXT_PUBLIC_VERCEL_BLOB_API_URL"] {
            guard let text = value(name) else { continue }
            guard !holdsWhiteSpaceOrControl(text) else {
                throw .invalid(variable: name, reason: "holds white space or a control character; a URL has none (percent-encode them)")
            }
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil
            else {
                throw .invalid(variable: name, reason: "must be an absolute http(s) URL without query, such as https://vercel.com/api/blob (the default) or http://127.0.0.1:<port>/api/blob for a local stand-in")
            }
            api = url
            break
        }

        func int(_ name: String, default d: Int, range: ClosedRange<Int>, unit: String = "") throws(VercelBlobConfigurationError) -> Int {
            guard let text = value(name) else { return d }
            guard let n = Int(text), range.contains(n) else {
                throw .invalid(variable: name, reason: "must be a whole number\(unit) from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        let access: Access
        if let text = value("JOBLEDGER_VERCEL_BLOB_ACCESS") {
            guard let a = Access(rawValue: text.lowercased()) else {
                throw .invalid(variable: "JOBLEDGER_VERCEL_BLOB_ACCESS", reason: "must be public or private (the store's access)")
            }
            access = a
        } else {
            access = .public
        }
        self.init(
            token: token, apiURL: api,
            apiVersion: try int("VERCEL_BLOB_API_VERSION_OVERRIDE", default: Self.defaultAPIVersion, range: 1...1000),
            access: access,
            cacheControlMaxAge: try int("JOBLEDGER_VERCEL_BLOB_CACHE_MAX_AGE", default: Self.defaultCacheMaxAge, range: 60...315_360_000, unit: " of seconds"),
            requestTimeout: .milliseconds(try Self.timeout(value("JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS"))),
            retries: try int("JOBLEDGER_VERCEL_BLOB_RETRIES", default: Self.defaultRetries, range: 0...10),
            multipartThreshold: try int("JOBLEDGER_VERCEL_BLOB_MULTIPART_MIN_BYTES", default: Self.defaultMultipartThreshold,
                                        range: Self.minimumPartSize...Int(Int32.max), unit: " of bytes"),
            partSize: try int("JOBLEDGER_VERCEL_BLOB_PART_BYTES", default: Self.defaultPartSize,
                              range: Self.minimumPartSize...Self.maximumPartSize, unit: " of bytes"),
            partConcurrency: try int("JOBLEDGER_VERCEL_BLOB_PART_CONCURRENCY", default: Self.defaultPartConcurrency, range: 1...16))
    }

    /// `JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS`: 1000…600000 (default 60000). FoundationNetworking counts
    /// a request's time without progress in whole seconds only, so less than a second cannot be
    /// honoured and is refused rather than rounded.
    static func timeout(_ text: String?) throws(VercelBlobConfigurationError) -> Int {
        guard let text else { return 60_000 }
        guard let n = Int(text), (1000...600_000).contains(n) else {
            throw .invalid(variable: "JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS",
                           reason: "must be a whole number of milliseconds from 1000 to 600000 (the time a request may go without progress is counted in whole seconds; a value that is not a whole number of seconds is rounded up)")
        }
        return n
    }

    static func trimmed(_ url: URL) -> URL {
        var text = url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return URL(string: text) ?? url
    }

    /// The URL a blob at `pathname` is served at, known without asking the network:
    /// `https://<store id>.<access>.blob.vercel-storage.com/<pathname>`, the store id in lower case
    /// and the pathname percent-encoded except `/` (as the SDKs build it).
    public func publicURL(for pathname: String) -> String {
        let path = pathname.hasPrefix("/") ? String(pathname.dropFirst()) : pathname
        return "https://\(storeID.lowercased()).\(access.rawValue).\(deliveryDomain)/\(Self.encodePath(path))"
    }

    /// Percent-encodes everything but unreserved characters and `/` (Python's `quote(p, safe="/")`).
    static func encodePath(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// The API URL safe to show: no user info, no query.
    public var redactedAPIURL: String {
        guard var c = URLComponents(url: apiURL, resolvingAgainstBaseURL: false) else { return "<url>" }
        if c.user != nil || c.password != nil { c.user = "<redacted>"; c.password = nil }
        c.query = nil
        c.fragment = nil
        return c.string ?? "<url>"
    }

    /// The store, access, API URL (redacted) and tuning, the token as `<redacted>`: safe to log.
    public var description: String {
        "VercelBlobConfiguration(store: \(storeID), access: \(access.rawValue), apiURL: \(redactedAPIURL), apiVersion: \(apiVersion), "
            + "token: <redacted>, cacheControlMaxAge: \(cacheControlMaxAge), requestTimeout: \(requestTimeout), retries: \(retries), "
            + "multipartThreshold: \(multipartThreshold), partSize: \(partSize), partConcurrency: \(partConcurrency))"
    }

    /// The same as `description`.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: the description's values, the token redacted.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "storeID": storeID, "access": access, "apiURL": redactedAPIURL, "apiVersion": apiVersion, "token": token,
            "cacheControlMaxAge": cacheControlMaxAge, "requestTimeout": requestTimeout, "retries": retries,
            "multipartThreshold": multipartThreshold, "partSize": partSize, "partConcurrency": partConcurrency,
        ], displayStyle: .struct)
    }
}

/// A missing or unusable Vercel Blob setting. Names the variable and what to do; never its value.
public enum VercelBlobConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A variable that is needed is not set.
    case missing(variable: String, hint: String)
    /// A variable is set but unusable.
    case invalid(variable: String, reason: String)

    /// `Vercel Blob: VARIABLE is not set. <what to do>` or `Vercel Blob: VARIABLE <what is wrong>.`
    public var description: String {
        switch self {
        case .missing(let v, let hint): "Vercel Blob: \(v) is not set. \(hint)"
        case .invalid(let v, let reason): "Vercel Blob: \(v) \(reason)."
        }
    }
}
