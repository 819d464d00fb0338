import Foundation
import JobLedgerHTTP

/// How JobLedger talks to AnyCable, read from the same environment variables the web app and the
/// AnyCable server already use. Secrets are held as `AnyCableSecret`, so printing or dumping a
/// configuration never shows them.
///
/// | variable | meaning |
/// | --- | --- |
/// | `ANYCABLE_BROADCAST_URL` | the server's `/_broadcast` endpoint (required to broadcast) |
/// | `ANYCABLE_BROADCAST_KEY` | the broadcast key, used verbatim (`none`: the server has no auth) |
/// | `ANYCABLE_SECRET` | the server's application secret; the broadcast key is derived from it, and it is the fallback for the two below |
/// | `ANYCABLE_STREAMS_SECRET` | the key for signed stream names (else `ANYCABLE_SECRET`, used directly) |
/// | `ANYCABLE_JWT_SECRET` | the key for client JWTs (else `ANYCABLE_SECRET`, used directly) |
/// | `NEXT_PUBLIC_ANYCABLE_URL` | the WebSocket URL browsers connect to (only passed on to them) |
/// | `JOBLEDGER_ANYCABLE_BATCH_SIZE` | most publications per request (default 100) |
/// | `JOBLEDGER_ANYCABLE_LINGER_MS` | longest the projection runner waits to fill a batch (default 5) |
/// | `JOBLEDGER_ANYCABLE_TIMEOUT_MS` | per-request timeout (default 10000) |
///
/// ```swift
/// let config = try AnyCableConfiguration()                  // ProcessInfo's environment
/// print(config)                                             // keys show as <redacted>
/// let sink = try AnyCableBroadcaster(configuration: config) // names a missing variable
/// ```
public struct AnyCableConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Where the broadcast key came from.
    public enum KeySource: String, Sendable, Hashable {
        /// `ANYCABLE_BROADCAST_KEY`.
        case broadcastKey = "ANYCABLE_BROADCAST_KEY"
        /// Derived from `ANYCABLE_SECRET` the way the server derives it.
        case derivedFromSecret = "derived from ANYCABLE_SECRET"
        /// `ANYCABLE_BROADCAST_KEY=none`: the server runs without broadcast authentication.
        case disabled = "ANYCABLE_BROADCAST_KEY=none (no authentication)"
        /// Neither variable is set.
        case missing = "not set"
    }

    /// Publications per request when `JOBLEDGER_ANYCABLE_BATCH_SIZE` is unset: 100.
    public static let defaultBatchSize = 100
    /// Linger when `JOBLEDGER_ANYCABLE_LINGER_MS` is unset: 5 ms.
    public static let defaultLinger: Duration = .milliseconds(5)
    /// Request timeout when `JOBLEDGER_ANYCABLE_TIMEOUT_MS` is unset: 10 s.
    public static let defaultRequestTimeout: Duration = .seconds(10)

    /// The `/_broadcast` endpoint, or nil when only signing is configured.
    public var broadcastURL: URL?
    /// The bearer key for `/_broadcast`; nil when absent or disabled (see `keySource`).
    public var broadcastKey: AnyCableSecret?
    /// Where `broadcastKey` came from (or why there is none).
    public var keySource: KeySource
    /// The key for signed stream names, or nil when neither variable is set.
    public var streamsSecret: AnyCableSecret?
    /// The key for client JWTs, or nil when neither variable is set.
    public var jwtSecret: AnyCableSecret?
    /// What the browser is told to connect to (`NEXT_PUBLIC_ANYCABLE_URL`), passed on unchanged.
    public var publicURL: String?
    /// Most publications per HTTP request (≥ 1).
    public var batchSize: Int
    /// Longest the projection runner waits to gather a batch; the broadcaster itself does not wait.
    public var linger: Duration
    /// How long one HTTP request may take before it counts as failed (and is retried).
    public var requestTimeout: Duration

    /// A configuration given directly (tests, embedding).
    public init(broadcastURL: URL?, broadcastKey: AnyCableSecret?, keySource: KeySource? = nil,
                streamsSecret: AnyCableSecret? = nil, jwtSecret: AnyCableSecret? = nil, publicURL: String? = nil,
                batchSize: Int = defaultBatchSize, linger: Duration = defaultLinger,
                requestTimeout: Duration = defaultRequestTimeout) {
        self.broadcastURL = broadcastURL
        self.broadcastKey = broadcastKey
        self.keySource = keySource ?? (broadcastKey == nil ? .missing : .broadcastKey)
        self.streamsSecret = streamsSecret
        self.jwtSecret = jwtSecret
        self.publicURL = publicURL
        self.batchSize = batchSize
        self.linger = linger
        self.requestTimeout = requestTimeout
    }

    /// Reads the configuration from environment variables (by default the process's). Empty
    /// values count as unset. Nothing is required here; `AnyCableBroadcaster`,
    /// `AnyCableStreamSigner` and `AnyCableJWTIssuer` each say what they are missing.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AnyCableConfigurationError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        let secret = value("ANYCABLE_SECRET").map { AnyCableSecret($0) }

        var url: URL?
        if let text = value("ANYCABLE_BROADCAST_URL") {
            url = try Self.parseBroadcastURL(text, variable: "ANYCABLE_BROADCAST_URL")
        }

        let key: AnyCableSecret?
        let source: KeySource
        if let k = value("ANYCABLE_BROADCAST_KEY") {
            // It goes out in an HTTP header: with a line break in it (a key pasted with its
            // newline) the header was silently left off, and every broadcast refused.
            guard k.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw .invalid(variable: "ANYCABLE_BROADCAST_KEY", reason: "holds a control character or line break; set it to the key alone")
            }
            if k == "none" { key = nil; source = .disabled } else { key = AnyCableSecret(k); source = .broadcastKey }
        } else if let secret {
            key = AnyCableHMAC.broadcastKey(fromSecret: secret); source = .derivedFromSecret
        } else {
            key = nil; source = .missing
        }

        func positiveInt(_ name: String, default d: Int, max: Int) throws(AnyCableConfigurationError) -> Int {
            guard let text = value(name) else { return d }
            guard let n = Int(text), n >= 1, n <= max else {
                throw .invalid(variable: name, reason: "must be a whole number from 1 to \(max)")
            }
            return n
        }
        func milliseconds(_ name: String, default d: Duration, min: Int, max: Int) throws(AnyCableConfigurationError) -> Duration {
            guard let text = value(name) else { return d }
            guard let n = Int(text), n >= min, n <= max else {
                throw .invalid(variable: name, reason: "must be a whole number of milliseconds from \(min) to \(max)")
            }
            return .milliseconds(n)
        }

        self.init(
            broadcastURL: url, broadcastKey: key, keySource: source,
            streamsSecret: value("ANYCABLE_STREAMS_SECRET").map { AnyCableSecret($0) } ?? secret,
            jwtSecret: value("ANYCABLE_JWT_SECRET").map { AnyCableSecret($0) } ?? secret,
            publicURL: value("NEXT_PUBLIC_ANYCABLE_URL"),
            batchSize: try positiveInt("JOBLEDGER_ANYCABLE_BATCH_SIZE", default: Self.defaultBatchSize, max: 10_000),
            linger: try milliseconds("JOBLEDGER_ANYCABLE_LINGER_MS", default: Self.defaultLinger, min: 0, max: 60_000),
            requestTimeout: try milliseconds("JOBLEDGER_ANYCABLE_TIMEOUT_MS", default: Self.defaultRequestTimeout,
                                             min: 1, max: 600_000))
    }

    /// An absolute http(s) URL with a host, or a typed error that does not echo the value (a URL
    /// may carry credentials).
    static func parseBroadcastURL(_ text: String, variable: String) throws(AnyCableConfigurationError) -> URL {
        guard !holdsWhiteSpaceOrControl(text) else {
            throw .invalid(variable: variable, reason: "holds white space or a control character; a URL has none (percent-encode them)")
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            throw .invalid(variable: variable,
                           reason: "must be an absolute http(s) URL such as http://localhost:8080/_broadcast or https://<your-cable-host>/_broadcast")
        }
        // The server's broadcast path (/_broadcast by default): without one every broadcast was
        // answered 404 and dead-lettered, the run going on as if configured. (A path of `/` is
        // taken: a server run with --http_broadcast_path=/, or a proxy that broadcasts at its root.)
        guard !url.path.isEmpty else {
            throw .invalid(variable: variable,
                           reason: "has no path: add the server's broadcast path, /_broadcast by default (--http_broadcast_path), as in http://localhost:8080/_broadcast")
        }
        return url
    }

    /// The broadcast URL with its credentials redacted: safe to show.
    public var redactedBroadcastURL: String {
        broadcastURL.map { Self.redacted($0, hiding: secretValues) } ?? "not set"
    }

    /// The secrets this configuration holds, as text (hidden wherever they turn up in the URL).
    var secretValues: [String] { [broadcastKey, streamsSecret, jwtSecret].compactMap { $0?.reveal() } }

    /// `url` safe to show in a description, error or log line: user info (`user:pass@`) becomes
    /// `<redacted>@`, the value of every query parameter that looks like a secret (by its name —
    /// key, token, secret, password, auth, signature, … — or by its value, a long mix of letters
    /// and digits) becomes `<redacted>`, so does every run of the path that looks like one (16
    /// or more letters, digits, `-`, `.`, `_` or `~`, with both letters and digits: a key put in
    /// the path, `…/<key>/_broadcast`, was shown whole), and every whole occurrence of `hiding`
    /// (the configured secrets, of six characters or more); the fragment is dropped.
    public static func redacted(_ url: URL, hiding secrets: [String] = []) -> String {
        guard let c = URLComponents(url: url, resolvingAgainstBaseURL: true), let scheme = c.scheme else { return "<url>" }
        var host = c.percentEncodedHost ?? ""
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }  // IPv6
        var text = scheme + "://"
        if c.percentEncodedUser != nil || c.percentEncodedPassword != nil { text += "<redacted>@" }
        text += host
        if let port = c.port { text += ":\(port)" }
        text += redactingTokenRuns(c.percentEncodedPath)
        if let query = c.percentEncodedQuery {
            let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
                guard let eq = part.firstIndex(of: "=") else { return looksSecret(name: "", value: String(part)) ? "<redacted>" : String(part) }
                let name = String(part[..<eq]), value = String(part[part.index(after: eq)...])
                return looksSecret(name: name, value: value) ? name + "=<redacted>" : name + "=" + value
            }
            text += "?" + parts.joined(separator: "&")
        }
        // A secret of a few characters is left alone: hiding each "k" of a key `k` would name it.
        for secret in secrets where secret.count >= 6 {
            for form in Set([secret, secret.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? secret]) {
                text = text.replacingOccurrences(of: form, with: "<redacted>")
            }
        }
        return text
    }

    /// `path` with every run that reads like a generated token (see `redacted`) as `<redacted>`.
    static func redactingTokenRuns(_ path: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var out = "", run = ""
        func flush() {
            out += looksSecret(name: "", value: run) ? "<redacted>" : run
            run = ""
        }
        for ch in path {
            if unreserved.contains(ch) { run.append(ch) } else { flush(); out.append(ch) }
        }
        flush()
        return out
    }

    /// Words in a query parameter's name that mark its value as a credential.
    static let secretNameWords = ["key", "token", "secret", "pass", "pwd", "auth", "sig", "credential", "jwt", "session", "bearer", "cookie", "code"]

    static func looksSecret(name: String, value: String) -> Bool {
        let n = (name.removingPercentEncoding ?? name).lowercased()
        if secretNameWords.contains(where: { n.contains($0) }) { return true }
        // A value that reads like a generated token: long, and both letters and digits.
        let v = value.removingPercentEncoding ?? value
        return v.count >= 16 && v.contains(where: \.isLetter) && v.contains(where: \.isNumber)
    }

    /// Every setting, secrets as `<redacted>` and the URL redacted: safe to log.
    public var description: String {
        func s(_ x: AnyCableSecret?) -> String { x == nil ? "not set" : "<redacted>" }
        return "AnyCableConfiguration(broadcastURL: \(redactedBroadcastURL), broadcastKey: \(s(broadcastKey)) (\(keySource.rawValue)), "
            + "streamsSecret: \(s(streamsSecret)), jwtSecret: \(s(jwtSecret)), publicURL: \(publicURL ?? "not set"), "
            + "batchSize: \(batchSize), linger: \(linger), requestTimeout: \(requestTimeout))"
    }

    /// The same as `description`.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: the description's redacted values.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "broadcastURL": redactedBroadcastURL, "broadcastKey": broadcastKey as Any, "keySource": keySource,
            "streamsSecret": streamsSecret as Any, "jwtSecret": jwtSecret as Any, "publicURL": publicURL as Any,
            "batchSize": batchSize, "linger": linger, "requestTimeout": requestTimeout,
        ], displayStyle: .struct)
    }
}

/// A missing or unusable AnyCable setting. Names the variable and what to do; never its value.
public enum AnyCableConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A variable that this use needs is not set.
    case missing(variable: String, hint: String)
    /// A variable is set but unusable.
    case invalid(variable: String, reason: String)

    /// `AnyCable: VARIABLE is not set. <what to do>` or `AnyCable: VARIABLE <what is wrong>.`
    public var description: String {
        switch self {
        case .missing(let v, let hint): "AnyCable: \(v) is not set. \(hint)"
        case .invalid(let v, let reason): "AnyCable: \(v) \(reason)."
        }
    }
}
