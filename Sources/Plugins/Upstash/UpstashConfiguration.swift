import Foundation

/// A secret (the REST token) that never shows itself: its `description`, `debugDescription`
/// and mirror all print `<redacted>`, so it cannot leak into a log line, an error or a `dump`.
/// Read it with `reveal()` where it is really used.
public struct UpstashSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable,
    ExpressibleByStringLiteral
{
    private let value: String
    /// Holds `value`.
    public init(_ value: String) { self.value = value }
    /// Holds the literal (tests, examples; keep real tokens out of source code).
    public init(stringLiteral value: String) { self.value = value }
    /// The token itself, for the `Authorization` header. Never log it.
    public func reveal() -> String { value }
    /// `<redacted>`: the token never shows in logs.
    public var description: String { "<redacted>" }
    /// `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// A mirror with no children, so `dump` shows nothing of the token.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A missing or malformed setting. Names the variable and says what to put there; never echoes
/// the value (a URL or token may carry credentials).
public enum UpstashConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    case missing(variable: String, hint: String)
    case invalid(variable: String, reason: String)

    /// `VARIABLE is not set. <what to do>` or `VARIABLE is invalid: <why>`; never the value.
    public var description: String {
        switch self {
        case .missing(let v, let hint): "\(v) is not set. \(hint)"
        case .invalid(let v, let reason): "\(v) is invalid: \(reason)"
        }
    }

    /// The variable at fault.
    public var variable: String {
        switch self {
        case .missing(let v, _), .invalid(let v, _): v
        }
    }
}

/// How JobLedger talks to Upstash Redis, read from the variables the web app already uses.
///
/// | variable | meaning |
/// | --- | --- |
/// | `UPSTASH_REDIS_REST_URL` (else `KV_REST_API_URL`) | the database's REST endpoint, `https://<db>.upstash.io` |
/// | `UPSTASH_REDIS_REST_TOKEN` (else `KV_REST_API_TOKEN`) | the REST token (Standard, not Read Only) |
/// | `JOBLEDGER_UPSTASH_STREAM` | the intake stream (default `design:jobs`) |
/// | `JOBLEDGER_UPSTASH_GROUP` | the consumer group (default `jobledger`) |
/// | `JOBLEDGER_UPSTASH_CONSUMER` | this worker's consumer name (default `<host>-<pid>`) |
/// | `JOBLEDGER_UPSTASH_TIMEOUT_MS` | per-request timeout (default 10000) |
/// | `JOBLEDGER_UPSTASH_STATUS_TTL_S` | how long a finished job's status hash lives (default 86400) |
/// | `JOBLEDGER_UPSTASH_BATCH_SIZE` | stream entries read per request (default 500, at most 1000) |
/// | `JOBLEDGER_UPSTASH_CLAIM_IDLE_MS` | how long an entry stays with a silent consumer before another takes it over (default 60000) |
public struct UpstashConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The intake stream when `JOBLEDGER_UPSTASH_STREAM` is unset: `design:jobs`.
    public static let defaultStream = "design:jobs"
    /// The consumer group when `JOBLEDGER_UPSTASH_GROUP` is unset: `jobledger`.
    public static let defaultGroup = "jobledger"
    /// The per-request timeout when `JOBLEDGER_UPSTASH_TIMEOUT_MS` is unset: 10 seconds.
    public static let defaultTimeout: Duration = .seconds(10)
    /// How long a finished job's status hash lives when `JOBLEDGER_UPSTASH_STATUS_TTL_S` is unset:
    /// 86400 seconds (a day).
    public static let defaultStatusTTLSeconds = 86_400

    /// The REST endpoint, without a trailing slash.
    public var url: URL
    /// The REST token (the Standard one, not Read Only); prints as `<redacted>`.
    public var token: UpstashSecret
    /// Which variable the URL and token came from (`UPSTASH_REDIS_REST_*` or `KV_REST_API_*`).
    public var source: String
    /// The intake stream (default `design:jobs`); the status hashes are `<stream>:<job id>`.
    public var stream: String
    /// The consumer group the workers share (default `jobledger`).
    public var group: String
    /// This worker's consumer name in the group (default `<host>-<pid>`).
    public var consumer: String
    /// How long one request to Upstash may take (default 10 seconds).
    public var requestTimeout: Duration
    /// Seconds a finished job's status hash lives before it expires (default 86400).
    public var statusTTLSeconds: Int
    /// Stream entries read per request, at most 1000 (default 500).
    public var batchSize = 500
    /// How long an entry stays pending with a silent consumer before another takes it over
    /// (default 60 seconds).
    public var claimIdle: Duration = .seconds(60)

    /// A configuration given directly (tests, embedding).
    public init(url: URL, token: UpstashSecret, stream: String = defaultStream, group: String = defaultGroup,
                consumer: String = UpstashConfiguration.defaultConsumer, requestTimeout: Duration = defaultTimeout,
                statusTTLSeconds: Int = defaultStatusTTLSeconds, source: String = "UPSTASH_REDIS_REST_URL") {
        self.url = url; self.token = token; self.stream = stream; self.group = group; self.consumer = consumer
        self.requestTimeout = requestTimeout; self.statusTTLSeconds = statusTTLSeconds; self.source = source
    }

    /// `<host>-<pid>`: unique per running worker, so a restarted worker is a new consumer and
    /// takes over its predecessor's pending entries with XAUTOCLAIM.
    public static var defaultConsumer: String { "\(ProcessInfo.processInfo.hostName)-\(getpid())" }

    /// Reads the configuration from environment variables (by default the process's). Empty
    /// values count as unset. The URL and token are required: a missing one throws `.missing`
    /// naming it; a malformed value throws `.invalid` without echoing it.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(UpstashConfigurationError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        let urlVariable: String
        let urlText: String
        if let u = value("UPSTASH_REDIS_REST_URL") { urlVariable = "UPSTASH_REDIS_REST_URL"; urlText = u }
        else if let u = value("KV_REST_API_URL") { urlVariable = "KV_REST_API_URL"; urlText = u }
        else {
            throw .missing(variable: "UPSTASH_REDIS_REST_URL",
                           hint: "Set it to the database's REST URL from the Upstash console (https://<your-db>.upstash.io); KV_REST_API_URL is read when it is unset.")
        }
        let url = try Self.parseURL(urlText, variable: urlVariable)
        let tokenVariable = urlVariable == "KV_REST_API_URL" ? "KV_REST_API_TOKEN" : "UPSTASH_REDIS_REST_TOKEN"
        guard let token = value(tokenVariable) ?? value(tokenVariable == "KV_REST_API_TOKEN" ? "UPSTASH_REDIS_REST_TOKEN" : "KV_REST_API_TOKEN") else {
            throw .missing(variable: tokenVariable,
                           hint: "Set it to the database's REST token (the Standard one, not Read Only) from the Upstash console.")
        }
        if token.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw .invalid(variable: tokenVariable, reason: "contains whitespace; copy the token again without spaces or line breaks")
        }
        // An HTTP field value carries visible ASCII: a control character or a byte past ASCII
        // was sent raw in the Authorization header (the other adapters refuse it too).
        if token.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }) {
            throw .invalid(variable: tokenVariable, reason: "holds a control character or a character outside ASCII; copy the token again")
        }
        let stream = value("JOBLEDGER_UPSTASH_STREAM") ?? Self.defaultStream
        try Self.checkName(stream, variable: "JOBLEDGER_UPSTASH_STREAM")
        let group = value("JOBLEDGER_UPSTASH_GROUP") ?? Self.defaultGroup
        try Self.checkName(group, variable: "JOBLEDGER_UPSTASH_GROUP")
        let consumer = value("JOBLEDGER_UPSTASH_CONSUMER") ?? Self.defaultConsumer
        try Self.checkName(consumer, variable: "JOBLEDGER_UPSTASH_CONSUMER")
        var timeout = Self.defaultTimeout
        if let t = value("JOBLEDGER_UPSTASH_TIMEOUT_MS") {
            guard let n = Int(t), (1...600_000).contains(n) else {
                throw .invalid(variable: "JOBLEDGER_UPSTASH_TIMEOUT_MS", reason: "must be a whole number of milliseconds from 1 to 600000")
            }
            timeout = .milliseconds(n)
        }
        var ttl = Self.defaultStatusTTLSeconds
        if let t = value("JOBLEDGER_UPSTASH_STATUS_TTL_S") {
            guard let n = Int(t), (1...31_536_000).contains(n) else {
                throw .invalid(variable: "JOBLEDGER_UPSTASH_STATUS_TTL_S", reason: "must be a whole number of seconds from 1 to 31536000")
            }
            ttl = n
        }
        self.init(url: url, token: UpstashSecret(token), stream: stream, group: group, consumer: consumer,
                  requestTimeout: timeout, statusTTLSeconds: ttl, source: urlVariable)
        if let t = value("JOBLEDGER_UPSTASH_BATCH_SIZE") {
            guard let n = Int(t), (1...1000).contains(n) else {
                throw .invalid(variable: "JOBLEDGER_UPSTASH_BATCH_SIZE", reason: "must be a whole number from 1 to 1000")
            }
            batchSize = n
        }
        if let t = value("JOBLEDGER_UPSTASH_CLAIM_IDLE_MS") {
            guard let n = Int(t), (0...86_400_000).contains(n) else {
                throw .invalid(variable: "JOBLEDGER_UPSTASH_CLAIM_IDLE_MS", reason: "must be a whole number of milliseconds from 0 to 86400000")
            }
            claimIdle = .milliseconds(n)
        }
    }

    /// Stream, group and consumer names: 1…200 bytes, no whitespace or control characters.
    public static func checkName(_ name: String, variable: String) throws(UpstashConfigurationError) {
        guard (1...200).contains(name.utf8.count), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalid(variable: variable, reason: "must be 1…200 bytes with no spaces or control characters")
        }
    }

    /// An absolute http(s) URL with a host and no query, as the SDKs require
    /// (`^https?://[^\s#$./?].\S*$`), and no path (the REST API is served at the root); a trailing
    /// slash is dropped.
    static func parseURL(_ text: String, variable: String) throws(UpstashConfigurationError) -> URL {
        var t = text
        while t.hasSuffix("/") { t.removeLast() }
        guard let url = URL(string: t), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil
        else {
            throw .invalid(variable: variable, reason: "must be an absolute http(s) URL such as https://<your-db>.upstash.io (no query, no fragment)")
        }
        // The client adds `/pipeline` and `/multi-exec` itself; a path would put every request
        // somewhere else than Upstash serves the REST API.
        guard url.path.isEmpty || url.path == "/" else {
            throw .invalid(variable: variable, reason: "it has a path: it must be the database's REST URL alone, https://<your-db>.upstash.io (JobLedger adds /pipeline and /multi-exec itself)")
        }
        return url
    }

    /// The URL safe to show: user info replaced by `<redacted>@`.
    public var redactedURL: String { Self.redacted(url) }

    /// `url` without user info, query or fragment.
    public static func redacted(_ url: URL) -> String {
        guard let c = URLComponents(url: url, resolvingAgainstBaseURL: true), let scheme = c.scheme else { return "<url>" }
        var text = scheme + "://"
        if c.percentEncodedUser != nil || c.percentEncodedPassword != nil { text += "<redacted>@" }
        text += c.percentEncodedHost ?? ""
        if let port = c.port { text += ":\(port)" }
        text += c.percentEncodedPath
        if c.percentEncodedQuery != nil { text += "?<redacted>" }
        return text
    }

    /// The URL (redacted), `<redacted>` for the token, the stream, group, consumer, timeout and
    /// status TTL: safe to log.
    public var description: String {
        "UpstashConfiguration(url: \(redactedURL), token: <redacted>, stream: \(stream), group: \(group), consumer: \(consumer), "
            + "requestTimeout: \(requestTimeout), statusTTLSeconds: \(statusTTLSeconds))"
    }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// What `dump` and debuggers show: the description's values, the URL redacted, no token.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": redactedURL, "token": "<redacted>", "stream": stream, "group": group, "consumer": consumer,
                                "requestTimeout": requestTimeout, "statusTTLSeconds": statusTTLSeconds], displayStyle: .struct)
    }
}
