import Foundation
import JobLedger
import JobLedgerHTTP
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request to Upstash's REST API, as the client hands it to a transport.
public struct UpstashHTTPRequest: Sendable {
    /// The REST URL, plus `/pipeline` or `/multi-exec` for several commands.
    public var url: URL
    /// Header fields in the order they are sent.
    public var headers: [(name: String, value: String)]
    /// The JSON body: one command, or an array of commands.
    public var body: Data
    /// How long the whole exchange may take.
    public var timeout: Duration

    /// A request; by default no headers, an empty body and a 10-second timeout.
    public init(url: URL, headers: [(name: String, value: String)] = [], body: Data = Data(), timeout: Duration = .seconds(10)) {
        self.url = url; self.headers = headers; self.body = body; self.timeout = timeout
    }
}

/// One HTTP response from the REST API.
public struct UpstashHTTPResponse: Sendable {
    /// The HTTP status code (3xx, 4xx and 5xx included).
    public var status: Int
    /// Header fields, names in lower case.
    public var headers: [String: String]
    /// The response body (JSON, from Upstash).
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

/// Why no HTTP response arrived, and whether the request may have reached the server: a
/// command that could apply twice is retried only when it certainly did not.
public enum UpstashTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection was made: the request never left this machine. Safe to send again.
    case notConnected(String)
    /// The request took longer than its timeout; the server may have applied it.
    case timedOut(String)
    /// The connection broke after the request was sent; the server may have applied it.
    case connectionLost(String)
    /// The task was cancelled.
    case cancelled

    /// `could not connect: …`, `timed out: …`, `connection lost: …` or `cancelled`.
    public var description: String {
        switch self {
        case .notConnected(let m): "could not connect: \(m)"
        case .timedOut(let m): "timed out: \(m)"
        case .connectionLost(let m): "connection lost: \(m)"
        case .cancelled: "cancelled"
        }
    }

    /// True when the server cannot have seen the request.
    public var certainlyNotSent: Bool {
        if case .notConnected = self { return true }
        return false
    }
}

/// Sends the REST API's HTTP requests (always POST): the seam where tests inject faults, and
/// where another HTTP client can be put in place of FoundationNetworking.
public protocol UpstashTransport: Sendable {
    /// Sends `request` and returns whatever status the server answered (4xx and 5xx included);
    /// throws only when no response arrived.
    func send(_ request: UpstashHTTPRequest) async throws(UpstashTransportError) -> UpstashHTTPResponse
}

/// The default transport: Foundation's `URLSession` (libcurl on Linux), one session so that
/// connections are reused. It never follows a redirect (the bearer token would go along to
/// wherever `Location` points): a 3xx comes back as the response, which the client reports as a
/// configuration error.
public final class URLSessionUpstashTransport: UpstashTransport, @unchecked Sendable {
    // @unchecked: URLSession is thread-safe; the property is immutable.
    private let session: URLSession
    /// The session's delegate: a body of at most 256 MiB kept (a read of 500 stream entries of
    /// up to 64 KiB each, base64, three reads to a pipeline, is ~128 MiB), no redirect followed.
    private let fetcher = CappedFetch(limit: 256 << 20)

    /// A transport with its own ephemeral session: no cache, no cookies, up to 8 connections to a
    /// host, redirects not followed.
    public init() {
        let config = URLSessionConfiguration.ephemeral
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpCookieStorage = nil
        config.httpShouldSetCookies = false
        config.httpMaximumConnectionsPerHost = 8
        self.session = URLSession(configuration: config, delegate: fetcher, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// POSTs `request` and returns whatever status came back; throws `UpstashTransportError` when
    /// no response did (timeout, no connection, a lost connection, cancellation).
    public func send(_ request: UpstashHTTPRequest) async throws(UpstashTransportError) -> UpstashHTTPResponse {
        var r = URLRequest(url: request.url)
        r.httpMethod = "POST"
        for h in request.headers { r.addValue(h.value, forHTTPHeaderField: h.name) }
        r.httpBody = request.body
        // FoundationNetworking counts whole seconds and drops the fraction (0.999 s would end the
        // request at once): it gets the whole seconds that cover the limit, and the exact limit is
        // kept by the fetch (`CappedFetch.fetch(_:in:within:)`, which also cancels the task then).
        r.timeoutInterval = wholeSecondsCovering(request.timeout)
        let host = request.url.host ?? "?", limit = request.timeout
        do {
            // Never cancelled while URLSession holds it (see `withoutCancelling`).
            let session = self.session, fetcher = self.fetcher, request = r
            return try await withoutCancelling { () async throws -> UpstashHTTPResponse in
                let (data, response) = try await fetcher.fetch(request, in: session, within: limit)
                guard let http = response as? HTTPURLResponse else {
                    throw UpstashTransportError.connectionLost("\(host) sent no HTTP response")
                }
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields {
                    if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
                }
                return UpstashHTTPResponse(status: http.statusCode, headers: headers, body: data)
            }
        } catch let e as UpstashTransportError {
            throw e
        } catch let e as URLError {
            switch e.code {
            case .timedOut: throw .timedOut("no answer from \(host) within \(request.timeout)")
            case .cancelled: throw .cancelled
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet:
                throw .notConnected("\(host): \(Self.describe(e.code))")
            default:
                if Self.isCutOff(e) { throw .connectionLost("\(host) answered, but the answer was cut off (the connection closed before all of it arrived)") }
                throw .connectionLost("\(host): \(Self.describe(e.code))")
            }
        } catch is FetchTimedOut {
            throw .timedOut("no answer from \(host) within \(request.timeout)")
        } catch let e as ResponseTooLarge {
            throw .connectionLost("\(host) sent an answer too large to read (\(e)): is the URL the service's?")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .connectionLost("\(host): \(type(of: error))")
        }
    }

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
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            "TLS handshake failed"
        default: "URL error \(code.rawValue)"
        }
    }
}
