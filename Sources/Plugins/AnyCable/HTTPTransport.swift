import Foundation
import JobLedger
import JobLedgerHTTP
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request, as the broadcaster hands it to a transport.
public struct HTTPRequest: Sendable {
    /// `POST`, `GET` …
    public var method: String
    /// Where it goes.
    public var url: URL
    /// Header fields in the order they are sent.
    public var headers: [(name: String, value: String)]
    /// The request body (empty for none).
    public var body: Data
    /// How long the whole exchange may take.
    public var timeout: Duration

    /// A request; a 10 s timeout unless given.
    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: Data = Data(),
                timeout: Duration = .seconds(10)) {
        self.method = method; self.url = url; self.headers = headers; self.body = body; self.timeout = timeout
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code (any: 2xx, 3xx, 4xx, 5xx).
    public var status: Int
    /// Header fields, names in lower case.
    public var headers: [String: String]
    /// The response body.
    public var body: Data

    /// A response; header names are stored in lower case.
    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    /// The value of header `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why no HTTP response arrived. Messages name the host, never credentials.
public enum HTTPTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request took longer than its timeout.
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

/// Sends HTTP requests: the seam where tests inject faults, and where another client library
/// can be put in place of FoundationNetworking.
///
/// ```swift
/// /// Answers every request with 503 and a Retry-After, to see the runner back off.
/// struct Unavailable: HTTPTransport {
///     func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
///         HTTPResponse(status: 503, headers: ["Retry-After": "2"])
///     }
/// }
/// let sink = AnyCableBroadcaster(url: URL(string: "http://localhost:8080/_broadcast")!, key: "k",
///                                transport: Unavailable())
/// ```
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns whatever status the server answered (4xx and 5xx included);
    /// throws only when no response arrived.
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse
}

/// The default transport: Foundation's `URLSession` (libcurl on Linux). One session, so
/// connections are reused where the server allows it.
///
/// It never follows a redirect: URLSession would otherwise repeat the request, `Authorization`
/// header and all, to wherever a `Location` points (another host, another port, plain http).
/// A 3xx is returned as the response, for the caller to report as a configuration error.
public final class URLSessionTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: URLSession is thread-safe; the property is immutable.
    private let session: URLSession
    /// The session's delegate: a body of at most 16 MiB kept, no redirect followed.
    private let fetcher = CappedFetch()

    /// A transport with an ephemeral session: no cache, no cookies, no redirects.
    public init() {
        let config = URLSessionConfiguration.ephemeral
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpCookieStorage = nil
        config.httpShouldSetCookies = false
        self.session = URLSession(configuration: config, delegate: fetcher, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Sends the request; any status is a response, only a missing response throws.
    public func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        var r = URLRequest(url: request.url)
        r.httpMethod = request.method
        for h in request.headers { r.addValue(h.value, forHTTPHeaderField: h.name) }
        if !request.body.isEmpty || request.method == "POST" { r.httpBody = request.body }
        // FoundationNetworking counts whole seconds and drops the fraction (0.999 s would end the
        // request at once): it gets the whole seconds that cover the limit, and the exact limit is
        // kept by the fetch (`CappedFetch.fetch(_:in:within:)`, which also cancels the task then).
        r.timeoutInterval = wholeSecondsCovering(request.timeout)
        let host = request.url.host ?? "?", limit = request.timeout
        do {
            // Never cancelled while URLSession holds it (see `withoutCancelling`).
            let session = self.session, fetcher = self.fetcher, request = r
            return try await withoutCancelling { () async throws -> HTTPResponse in
                let (data, response) = try await fetcher.fetch(request, in: session, within: limit)
                guard let http = response as? HTTPURLResponse else {
                    throw HTTPTransportError.connectionFailed("\(host) sent no HTTP response")
                }
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields {
                    if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
                }
                return HTTPResponse(status: http.statusCode, headers: headers, body: data)
            }
        } catch let e as HTTPTransportError {
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
            throw .timedOut("no answer from \(host) within \(request.timeout)")
        } catch let e as ResponseTooLarge {
            throw .connectionFailed("\(host) sent an answer too large to read (\(e)): is the URL the service's?")
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .connectionFailed("\(host): \(type(of: error))")
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
