import Foundation
import JobLedger
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The broadcast projection's sink for AnyCable: publishes job messages through the server's
/// HTTP broadcast API (`POST /_broadcast`), in order, batched.
///
/// It makes one attempt per `deliver` and says how that attempt failed; retrying (with backoff,
/// honouring `retryAfterMilliseconds`) and dead-lettering are the projection runner's job:
/// - `SinkError.unavailable`: network errors, timeouts, 408, 429 and 5xx (with the server's
///   `Retry-After`, when it sent one) — worth retrying;
/// - `SinkError.rejected`: 401 (wrong key), 422 (wrong method or path), other 4xx, and
///   publications that would be silently dropped by the server (it answers 201 even to
///   malformed bodies, so every publication is checked before anything is sent).
///
/// A `deliver` of more than `batchSize` publications is sent as several requests, one after the
/// other, in order. If a later request fails, the whole call fails and the runner resends all of
/// it: AnyCable may then see the earlier requests twice, which browsers drop by `version`.
///
/// A redirect is never followed (the default transport refuses them, so the broadcast key goes
/// only to `url`): a 3xx is `SinkError.rejected`, naming where it pointed. The description, and
/// every error and log line, show the URL without user info and with secret-looking query values
/// replaced by `<redacted>`; the key itself never appears.
///
/// Give it to a `ProjectionRunner` (JobLedgerProjections) in place of the in-process hub:
///
/// ```swift
/// import JobLedgerAnyCable
/// import JobLedgerProjections
///
/// let sink = try AnyCableBroadcaster(configuration: try AnyCableConfiguration())  // ANYCABLE_* variables
/// let runner = ProjectionRunner(ledger: ledger, blobs: LocalFolderBlobStore(path: "jobs.sqlite.blobs"),
///                               broadcasts: sink)
/// ```
public struct AnyCableBroadcaster: BroadcastSink, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The broadcast endpoint requests go to (shown redacted in descriptions and errors).
    public let url: URL
    /// Most publications per HTTP request.
    public let batchSize: Int
    /// One request per `deliver` from the projection runner.
    public var preferredBatchSize: Int? { batchSize }
    /// After a partial batch, the live projection waits up to this long to fill the next one
    /// (`JOBLEDGER_ANYCABLE_LINGER_MS`).
    public var linger: Duration? { lingerDuration > .zero ? lingerDuration : nil }
    /// The linger as configured (zero: none).
    public let lingerDuration: Duration
    /// How long one request may take before it fails as `unavailable` (and is retried).
    public let requestTimeout: Duration
    private let authorization: AnyCableSecret?
    private let transport: any HTTPTransport
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// A broadcaster for `configuration`; fails when the URL or the key is missing.
    public init(configuration: AnyCableConfiguration, transport: any HTTPTransport = URLSessionTransport(),
                logger: Logger = Logger(label: "jobledger.anycable"),
                now: @escaping @Sendable () -> Date = { Date() }) throws(AnyCableConfigurationError) {
        guard let url = configuration.broadcastURL else {
            throw .missing(variable: "ANYCABLE_BROADCAST_URL",
                           hint: "Set it to the AnyCable server's broadcast endpoint, e.g. http://localhost:8080/_broadcast or https://<your-cable-host>/_broadcast.")
        }
        if configuration.keySource == .missing {
            throw .missing(variable: "ANYCABLE_BROADCAST_KEY",
                           hint: "Set ANYCABLE_BROADCAST_KEY to the server's broadcast key, or ANYCABLE_SECRET to the server's secret (the key is derived from it), or ANYCABLE_BROADCAST_KEY=none for a server without broadcast authentication.")
        }
        guard configuration.batchSize >= 1 else {
            throw .invalid(variable: "JOBLEDGER_ANYCABLE_BATCH_SIZE", reason: "must be at least 1")
        }
        self.init(url: url, key: configuration.broadcastKey, batchSize: configuration.batchSize,
                  requestTimeout: configuration.requestTimeout, linger: configuration.linger, transport: transport, logger: logger, now: now)
        shownURL = AnyCableConfiguration.redacted(url, hiding: configuration.secretValues)
    }

    /// A broadcaster for the endpoint `url` with bearer `key` (nil: send no `Authorization`).
    public init(url: URL, key: AnyCableSecret?, batchSize: Int = AnyCableConfiguration.defaultBatchSize,
                requestTimeout: Duration = AnyCableConfiguration.defaultRequestTimeout,
                linger: Duration = .zero,
                transport: any HTTPTransport = URLSessionTransport(),
                logger: Logger = Logger(label: "jobledger.anycable"),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.url = url
        self.shownURL = AnyCableConfiguration.redacted(url, hiding: key.map { [$0.reveal()] } ?? [])
        self.authorization = key.map { AnyCableSecret("Bearer " + $0.reveal()) }
        self.batchSize = max(1, batchSize)
        self.requestTimeout = requestTimeout
        self.lingerDuration = linger
        self.transport = transport
        self.logger = logger
        self.now = now
    }

    /// Publishes the messages, in order, in requests of at most `batchSize`; see the type's
    /// description for what each failure means.
    public func deliver(_ publications: [Publication]) async throws(SinkError) {
        try await send(publications.map { AnyCablePublication(stream: $0.stream, data: $0.message.text) })
    }

    /// Sends raw publications (`data` already a JSON text): validated first, then in requests of
    /// at most `batchSize`, sequentially, in order.
    public func send(_ publications: [AnyCablePublication]) async throws(SinkError) {
        guard !publications.isEmpty else { return }
        for (i, p) in publications.enumerated() {
            if let problem = p.problem {
                throw .rejected("AnyCable publication \(i + 1) of \(publications.count) is invalid (\(problem)); nothing was sent. AnyCable would answer 201 and drop it silently.")
            }
        }
        var start = 0
        while start < publications.count {
            let end = min(start + batchSize, publications.count)
            try await post(publications[start..<end])
            start = end
        }
    }

    /// The request body for `publications`: one object for one, an array for more (the server
    /// detects an array by its first element having a non-empty `stream`).
    public static func body(for publications: some Collection<AnyCablePublication>) -> Data {
        let value: JSONValue = publications.count == 1 ? publications.first!.json : .array(publications.map(\.json))
        return Data(value.canonicalText.utf8)
    }

    private func post(_ chunk: ArraySlice<AnyCablePublication>) async throws(SinkError) {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let authorization { headers.append(("Authorization", authorization.reveal())) }
        let request = HTTPRequest(method: "POST", url: url, headers: headers, body: Self.body(for: chunk),
                                  timeout: requestTimeout)
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            logger.warning("AnyCable broadcast failed", metadata: ["error": "\(error)", "publications": "\(chunk.count)"])
            throw .unavailable("AnyCable broadcast to \(where_) failed: \(error)")
        }
        if let failure = Self.classify(response, endpoint: where_, url: url, now: now(), redacting: redactKey) {
            logger.warning("AnyCable broadcast refused", metadata: ["status": "\(response.status)", "error": "\(failure)"])
            throw failure
        }
    }

    private var where_: String { shownURL }
    /// The URL as shown: redacted, and with the key (and the configuration's other secrets)
    /// hidden wherever they occur in it.
    private var shownURL: String

    /// The server's text (a redirect's `Location`, named in a message) without the broadcast
    /// key, whole or any piece of eight characters or more. Only the server's text: run over the
    /// whole message, it took out the words of JobLedger's own that the key shares ("broadcast"
    /// from a key `s3cret-broadcast-key`, "Cable" from "AnyCable"), which told what the key holds.
    private func redactKey(_ text: String) -> String {
        guard let authorization else { return text }
        return redactingSecret(String(authorization.reveal().dropFirst("Bearer ".count)), in: text)
    }

    /// `AnyCableBroadcaster(url: …, key: <redacted>, …)`: what it talks to, never a credential.
    public var description: String {
        "AnyCableBroadcaster(url: \(where_), key: \(authorization == nil ? "none" : "<redacted>"), batchSize: \(batchSize), "
            + "requestTimeout: \(requestTimeout), linger: \(lingerDuration))"
    }

    /// The same as `description`: no credential.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: the redacted URL, no key, no transport internals.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": where_, "key": authorization == nil ? "none" : "<redacted>", "batchSize": batchSize,
                                "requestTimeout": requestTimeout, "linger": lingerDuration], displayStyle: .struct)
    }

    /// What a response means for the projection: nil when the publications were taken. `url`
    /// (the request's) resolves a relative `Location` of a redirect for the message.
    public static func classify(_ response: HTTPResponse, endpoint: String, url: URL? = nil, now: Date = Date(),
                                redacting redact: (String) -> String = { $0 }) -> SinkError? {
        let retryAfter = response.header("Retry-After").flatMap { RetryAfter.milliseconds($0, now: now) }
        switch response.status {
        case 200..<300:
            return nil
        case 401:
            return .rejected("AnyCable at \(endpoint) refused the broadcast key (401 Unauthorized). Check that ANYCABLE_BROADCAST_KEY, or ANYCABLE_SECRET from which it is derived, matches the AnyCable server's broadcast key (its --broadcast_key, or the key it derives from its own --secret/ANYCABLE_SECRET).")
        case 422:
            return .rejected("AnyCable at \(endpoint) answered 422: the broadcast endpoint takes only POST, or the request body could not be read. Check that ANYCABLE_BROADCAST_URL points at the server's broadcast path (/_broadcast by default, --http_broadcast_path) and that no proxy or redirect turns the POST into another method.")
        case 408:
            return .unavailable("AnyCable at \(endpoint) answered 408 Request Timeout", retryAfterMilliseconds: retryAfter)
        case 429:
            return .unavailable("AnyCable at \(endpoint) is rate limiting broadcasts (429)", retryAfterMilliseconds: retryAfter)
        case 500..<600:
            return .unavailable("AnyCable at \(endpoint) answered \(response.status)", retryAfterMilliseconds: retryAfter)
        case 400..<500:
            return .rejected("AnyCable at \(endpoint) refused the broadcast with status \(response.status). Check ANYCABLE_BROADCAST_URL and the publications.")
        case 300..<400:
            let target = response.header("Location").map { location in
                URL(string: location, relativeTo: url).map { redact(AnyCableConfiguration.redacted($0.absoluteURL)) } ?? "an unreadable Location"
            } ?? "no Location"
            return .rejected("AnyCable at \(endpoint) answered \(response.status), a redirect to \(target). JobLedger does not follow redirects (the broadcast key must not be sent anywhere else): set ANYCABLE_BROADCAST_URL to the final /_broadcast URL.")
        default:
            return .rejected("AnyCable at \(endpoint) answered an unexpected status \(response.status) (a redirect?). Set ANYCABLE_BROADCAST_URL to the final /_broadcast URL.")
        }
    }
}

/// One publication exactly as AnyCable's broadcast API takes it: a stream and a data *string*
/// (usually JSON text; the server parses it and passes the parsed value to subscribers).
public struct AnyCablePublication: Sendable, Hashable {
    /// The stream to publish to (for a job, `job:<id>` by default).
    public var stream: String
    /// What subscribers get, as text (a JSON text, usually).
    public var data: String

    /// A publication of `data` on `stream`.
    public init(stream: String, data: String) {
        self.stream = stream
        self.data = data
    }

    /// `{"data": <string>, "stream": <string>}`.
    public var json: JSONValue { .object(["stream": .string(stream), "data": .string(data)]) }

    /// Why AnyCable would drop this publication, or nil when it is fine.
    public var problem: String? {
        if stream.isEmpty { return "empty stream name" }
        if data.isEmpty { return "empty data" }
        return nil
    }
}

/// Parses an HTTP `Retry-After` value.
public enum RetryAfter {
    /// Milliseconds to wait for a `Retry-After` of delay-seconds (`"120"`) or an HTTP-date
    /// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, also the obsolete RFC 850 and asctime forms); a date
    /// in the past gives 0; nil when the value is neither.
    public static func milliseconds(_ value: String, now: Date) -> Int64? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if !v.isEmpty, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let s = Int64(v) else { return Int64.max / 2 }  // absurdly long; the runner caps it
            return s > Int64.max / 2000 ? Int64.max / 2 : s * 1000
        }
        // asctime pads a one-digit day with a space ("Sun Nov  6 08:49:37 1994").
        let single = v.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let date = f.date(from: single) {
                return max(0, Int64((date.timeIntervalSince(now) * 1000).rounded(.up)))
            }
        }
        return nil
    }
}
