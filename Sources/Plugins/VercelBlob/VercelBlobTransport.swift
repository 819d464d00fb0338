import Foundation
import JobLedger
import JobLedgerHTTP
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The HTTP seam of the Vercel Blob adapter. The AnyCable plugin has the same shape under its own
// names; each plugin keeps its own so that neither depends on the other.

/// One HTTP request, as the blob store hands it to a transport.
public struct VercelBlobHTTPRequest: Sendable {
    /// The HTTP method (`GET`, `PUT`, `POST` …).
    public var method: String
    /// The full URL: the API base, the path and the query.
    public var url: URL
    /// Header fields in the order they are sent.
    public var headers: [(name: String, value: String)]
    /// The body (empty for a `GET`).
    public var body: Data
    /// How long the exchange may go without progress before it counts as timed out.
    public var timeout: Duration

    /// A request; by default no headers, an empty body and a 60-second timeout.
    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: Data = Data(),
                timeout: Duration = .seconds(60)) {
        self.method = method; self.url = url; self.headers = headers; self.body = body; self.timeout = timeout
    }

    /// The value of header `name` (any case), if the request has it.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// One HTTP response.
public struct VercelBlobHTTPResponse: Sendable {
    /// The HTTP status code (3xx, 4xx and 5xx included).
    public var status: Int
    /// Header fields, names in lower case.
    public var headers: [String: String]
    /// The response body (JSON, from the API).
    public var body: Data

    /// A response; header names are lowercased (of two that differ only in case, the first is kept).
    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    /// The value of header `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why no HTTP response arrived. Messages name the host, never credentials.
public enum VercelBlobTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request made no progress within its timeout.
    case timedOut(String)
    /// No connection, or the connection broke before a response arrived.
    case connectionFailed(String)
    /// The server answered, but the connection closed before the whole answer arrived.
    case cutOff(String)
    /// The task was cancelled.
    case cancelled

    /// `timed out: …`, `connection failed: …`, `answer cut off: …` or `cancelled`.
    public var description: String {
        switch self {
        case .timedOut(let m): "timed out: \(m)"
        case .connectionFailed(let m): "connection failed: \(m)"
        case .cutOff(let m): "answer cut off: \(m)"
        case .cancelled: "cancelled"
        }
    }
}

/// Sends HTTP requests for `VercelBlobStore`: the seam where tests inject faults, and where
/// another client library can be put in place of FoundationNetworking.
public protocol VercelBlobTransport: Sendable {
    /// Sends `request` and returns whatever status the server answered (3xx, 4xx and 5xx
    /// included); throws only when no response arrived.
    func send(_ request: VercelBlobHTTPRequest) async throws(VercelBlobTransportError) -> VercelBlobHTTPResponse
}

/// The default transport: Foundation's `URLSession` (libcurl on Linux), one session, so
/// connections are reused where the server allows it.
///
/// It never follows a redirect: URLSession would otherwise repeat the request, the
/// `authorization` header with the store's token included, to wherever a `Location` points.
/// A 3xx is returned as the response, and the store reports it as a configuration error.
public final class VercelBlobURLSessionTransport: VercelBlobTransport, @unchecked Sendable {
    // @unchecked: URLSession is thread-safe; the property is immutable.
    private let session: URLSession
    /// The session's delegate: a body of at most 16 MiB kept, no redirect followed.
    private let fetcher = CappedFetch()

    /// A transport with its own ephemeral session: no cache, no cookies, up to 16 connections to a
    /// host, redirects not followed.
    public init() {
        let config = URLSessionConfiguration.ephemeral
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpCookieStorage = nil
        config.httpShouldSetCookies = false
        config.httpMaximumConnectionsPerHost = 16
        self.session = URLSession(configuration: config, delegate: fetcher, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Sends `request` and returns whatever status came back; throws `VercelBlobTransportError`
    /// when no response did (no progress within the timeout, no or a broken connection, cancellation).
    public func send(_ request: VercelBlobHTTPRequest) async throws(VercelBlobTransportError) -> VercelBlobHTTPResponse {
        var r = URLRequest(url: request.url)
        r.httpMethod = request.method
        for h in request.headers { r.addValue(h.value, forHTTPHeaderField: h.name) }
        if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" { r.httpBody = request.body }
        // FoundationNetworking counts whole seconds and drops the fraction (0.999 s would end the
        // request at once): the limit is rounded up to whole seconds, at least one.
        r.timeoutInterval = wholeSecondsCovering(request.timeout)
        let host = request.url.host ?? "?", whole = Self.wholeRequestLimit(request.timeout)
        do {
            // Never cancelled while URLSession holds it (see `withoutCancelling`). The timeout
            // above is libcurl's, without progress: a server that sends a byte now and then
            // kept a request (and `blobs list`, a worker's upload) going for ever, so the whole
            // request is bounded too.
            let session = self.session, fetcher = self.fetcher, request = r
            return try await withoutCancelling { () async throws -> VercelBlobHTTPResponse in
                let (data, response) = try await fetcher.fetch(request, in: session, within: whole)
                guard let http = response as? HTTPURLResponse else {
                    throw VercelBlobTransportError.connectionFailed("\(host) sent no HTTP response")
                }
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields {
                    if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
                }
                return VercelBlobHTTPResponse(status: http.statusCode, headers: headers, body: data)
            }
        } catch let e as VercelBlobTransportError {
            throw e
        } catch let e as URLError {
            switch e.code {
            case .timedOut: throw .timedOut("no answer from \(host) within \(request.timeout)")
            case .cancelled: throw .cancelled
            default:
                if Self.isCutOff(e) { throw .cutOff("\(host) answered, but the connection closed before all of the answer arrived") }
                throw .connectionFailed("\(host): \(Self.describe(e.code))")
            }
        } catch is FetchTimedOut {
            throw .timedOut("\(host) did not finish answering within \(whole) (it sent its answer too slowly)")
        } catch let e as ResponseTooLarge {
            throw .connectionFailed("\(host) sent an answer too large to read (\(e)): is the URL the service's?")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .connectionFailed("\(host): \(type(of: error))")
        }
    }

    /// How long a whole request may take: ten times the timeout without progress, at least a
    /// minute (an upload of a large artefact is slow by right; a trickle is not endless).
    public static func wholeRequestLimit(_ timeout: Duration) -> Duration { max(timeout * 10, .seconds(60)) }

    /// True when libcurl said the connection closed before the whole answer arrived (`transfer
    /// closed with N bytes remaining to read`, a body shorter than its Content-Length or an
    /// unfinished chunked one): the server was reached and answered, but not all of it.
    /// FoundationNetworking reports it only as an unknown URL error, with curl's words.
    static func isCutOff(_ e: URLError) -> Bool {
        e.code == .unknown && ((e.userInfo[NSLocalizedDescriptionKey] as? String) ?? "").contains("transfer closed with")
    }

    /// A short description of a URL error that does not repeat the URL.
    static func describe(_ code: URLError.Code) -> String {
        switch code {
        case .cannotConnectToHost: "could not connect"
        case .cannotFindHost, .dnsLookupFailed: "host not found"
        case .networkConnectionLost: "the connection was lost"
        case .notConnectedToInternet: "not connected to a network"
        case .badServerResponse: "bad or empty response"
        case .zeroByteResource: "empty response"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            "TLS handshake failed"
        default: "URL error \(code.rawValue)"
        }
    }
}
