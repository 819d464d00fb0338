import Crypto
import Foundation
import JobLedger
import Logging
import Synchronization

/// A client for Upstash Redis's REST API: commands as JSON arrays to `/`, several at once to
/// `/pipeline` (in order, not atomic) or `/multi-exec` (atomic), replies asked for in base64 and
/// decoded as the official SDKs decode them, and the `upstash-sync-token` of the latest reply
/// sent with the next request (read-your-writes on replicas).
///
/// Retries: a request that failed for want of an answer (timeout, dropped connection, 5xx,
/// 429) is tried again, up to `retries` times with a short backoff, only if every command in
/// it is idempotent (a read, `SET` without `GET`, `HSET`, `XACK`, `DEL` …) or if the request
/// certainly never reached the server. A command that could apply twice (`XADD *`, `INCR`,
/// `EVAL`, `XREADGROUP` …) is never retried blindly; the caller is told it may have applied.
///
/// ```swift
/// let redis = UpstashRedis(configuration: try UpstashConfiguration())
/// try await redis.send(["SET", "greeting", "hello"])
/// let v = try await redis.send(["GET", "greeting"]).string   // "hello"
/// ```
public final class UpstashRedis: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The REST endpoint, without a trailing slash.
    public let url: URL
    /// How long one HTTP request may take (default 10 seconds); each retry gets as long again.
    public let requestTimeout: Duration
    /// Extra tries of a request that may be repeated safely (default 2).
    public let retries: Int
    private let authorization: UpstashSecret
    private let token: UpstashSecret
    private let transport: any UpstashTransport
    private let logger: Logger
    private let syncToken = Mutex<String>("")

    /// A client for `configuration`'s URL and token.
    public convenience init(configuration: UpstashConfiguration, transport: any UpstashTransport = URLSessionUpstashTransport(),
                            retries: Int = 2, logger: Logger = Logger(label: "jobledger.upstash")) {
        self.init(url: configuration.url, token: configuration.token, requestTimeout: configuration.requestTimeout,
                  retries: retries, transport: transport, logger: logger)
    }

    /// A client for the REST endpoint `url` with `token`.
    public init(url: URL, token: UpstashSecret, requestTimeout: Duration = UpstashConfiguration.defaultTimeout, retries: Int = 2,
                transport: any UpstashTransport = URLSessionUpstashTransport(), logger: Logger = Logger(label: "jobledger.upstash")) {
        var u = url.absoluteString
        while u.hasSuffix("/") { u.removeLast() }
        self.url = URL(string: u) ?? url
        self.token = token
        self.authorization = UpstashSecret("Bearer " + token.reveal())
        self.requestTimeout = requestTimeout
        self.retries = max(0, retries)
        self.transport = transport
        self.logger = logger
    }

    /// The latest `upstash-sync-token` seen (empty before the first reply): pass it to another
    /// client with `useSyncToken(_:)` for read-your-writes across clients.
    public var readYourWritesSyncToken: String { syncToken.withLock { $0 } }

    /// Sends `token` as the sync token from now on (until a newer reply replaces it).
    public func useSyncToken(_ token: String) { syncToken.withLock { $0 = token } }

    // MARK: - Commands

    /// Runs one command and returns its reply. `idempotent` overrides the client's own judgement
    /// of whether the command may be sent twice (`UpstashRedis.isIdempotent`).
    @discardableResult
    public func send(_ command: [String], idempotent: Bool? = nil) async throws(UpstashError) -> RedisValue {
        let body = Self.encode(command: command)
        let json = try await request(path: "", body: body, label: command.first ?? "?",
                                     idempotent: idempotent ?? Self.isIdempotent(command))
        do { return try Self.result(of: json, command: command.first ?? "?") } catch { throw scrub(error) }
    }

    /// Runs commands in one `/pipeline` request, in order but not atomically; one reply per
    /// command, each a value or the command's own error (a failing command does not stop the
    /// rest). Throws only when the request as a whole failed.
    public func pipeline(_ commands: [[String]], idempotent: Bool? = nil) async throws(UpstashError) -> [Result<RedisValue, UpstashError>] {
        guard !commands.isEmpty else { return [] }
        let json = try await request(path: "/pipeline", body: Self.encode(commands), label: "pipeline of \(commands.count)",
                                     idempotent: idempotent ?? commands.allSatisfy(Self.isIdempotent))
        return try scrubbedEntries(of: json, commands: commands)
    }

    /// Runs commands atomically in one `/multi-exec` request; one reply per command (as in
    /// Redis, a command failing at run time does not undo the others). A transaction discarded
    /// as a whole (a syntax error, an unsupported command) throws `.command`.
    public func transaction(_ commands: [[String]], idempotent: Bool? = nil) async throws(UpstashError) -> [Result<RedisValue, UpstashError>] {
        guard !commands.isEmpty else { return [] }
        let json = try await request(path: "/multi-exec", body: Self.encode(commands), label: "transaction of \(commands.count)",
                                     idempotent: idempotent ?? commands.allSatisfy(Self.isIdempotent))
        if case .object = json {
            do { _ = try Self.result(of: json, command: "MULTI/EXEC") } catch { throw scrub(error) }
        }
        return try scrubbedEntries(of: json, commands: commands)
    }

    /// Runs a Lua script: `EVALSHA` first, and the full `EVAL` when Redis answers `NOSCRIPT`
    /// (the script cache is empty, or a replica has not loaded it yet). Pass `idempotent: true`
    /// only for a script that may run twice without harm.
    @discardableResult
    public func eval(_ script: LuaScript, keys: [String], args: [String], idempotent: Bool = false) async throws(UpstashError) -> RedisValue {
        do {
            return try await send(script.evalsha(keys: keys, args: args), idempotent: idempotent)
        } catch {
            guard error.isCommandError("NOSCRIPT") else { throw error }
            return try await send(script.eval(keys: keys, args: args), idempotent: idempotent)
        }
    }

    /// Runs a script once per argument list in one `/pipeline` (`EVALSHA`, then `EVAL` for the
    /// entries Redis answered `NOSCRIPT`), one reply per call, in order.
    public func evalPipeline(_ script: LuaScript, calls: [(keys: [String], args: [String])],
                             idempotent: Bool = false) async throws(UpstashError) -> [Result<RedisValue, UpstashError>] {
        var results = try await pipeline(calls.map { script.evalsha(keys: $0.keys, args: $0.args) }, idempotent: idempotent)
        let missing = results.indices.filter { if case .failure(let e) = results[$0] { return e.isCommandError("NOSCRIPT") }; return false }
        guard !missing.isEmpty else { return results }
        let again = try await pipeline(missing.map { script.eval(keys: calls[$0].keys, args: calls[$0].args) }, idempotent: idempotent)
        for (i, r) in zip(missing, again) { results[i] = r }
        return results
    }

    // MARK: - The request

    private func request(path: String, body: Data, label: String, idempotent: Bool) async throws(UpstashError) -> JSONValue {
        let endpoint = UpstashConfiguration.redacted(url) + path
        guard let target = URL(string: url.absoluteString + path) else { throw .rejected("bad Upstash URL \(endpoint)") }
        var attempt = 0
        while true {
            var headers: [(name: String, value: String)] = [
                ("Authorization", authorization.reveal()), ("Content-Type", "application/json"), ("Upstash-Encoding", "base64"),
            ]
            // The newest token, read immediately before sending (not a snapshot from earlier).
            let sync = syncToken.withLock { $0 }
            if !sync.isEmpty { headers.append(("upstash-sync-token", sync)) }
            let outcome: Result<JSONValue, UpstashError>
            do {
                let response = try await transport.send(UpstashHTTPRequest(url: target, headers: headers, body: body, timeout: requestTimeout))
                if let t = response.header("upstash-sync-token"), !t.isEmpty { syncToken.withLock { $0 = t } }
                outcome = Self.interpret(response, endpoint: endpoint, label: label, requestURL: target).mapError { scrub($0) }
            } catch .cancelled {
                throw .unavailable("request to Upstash at \(endpoint) was cancelled", mayHaveApplied: true)
            } catch {
                let message = scrub(text: "Upstash at \(endpoint) (\(label)): \(error)")
                outcome = .failure(.unavailable(message, mayHaveApplied: !error.certainlyNotSent))
            }
            switch outcome {
            case .success(let json):
                return json
            case .failure(let e):
                guard case .unavailable(_, let after, let mayHaveApplied) = e, attempt < retries,
                      idempotent || !mayHaveApplied, !Task.isCancelled
                else {
                    if case .unavailable = e, !idempotent, attempt < retries {
                        logger.warning("not retrying a request that may have applied", metadata: ["request": "\(label)", "error": "\(e)"])
                    }
                    throw e
                }
                attempt += 1
                // 50 ms · e^n like @upstash/redis, or the server's Retry-After when it is longer (≤ 5 s here:
                // a longer wait is the caller's to schedule).
                let backoff = Int64(50 * exp(Double(attempt - 1)))
                let wait = min(5_000, max(backoff, after ?? 0))
                logger.debug("retrying", metadata: ["request": "\(label)", "attempt": "\(attempt)", "wait_ms": "\(wait)"])
                try? await Task.sleep(for: .milliseconds(wait))
            }
        }
    }

    /// A response as JSON, or the typed failure it stands for.
    static func interpret(_ response: UpstashHTTPResponse, endpoint: String, label: String, requestURL: URL) -> Result<JSONValue, UpstashError> {
        let text = String(decoding: response.body, as: UTF8.self)
        let json = try? JSONValue(parsing: text)
        let serverError = json?["error"]?.stringValue
        let retryAfter = response.header("Retry-After").flatMap { retryAfterMilliseconds($0) }
        switch response.status {
        case 200..<300:
            guard let json else {
                return .failure(.unavailable("Upstash at \(endpoint) answered \(response.status) with a body that is not JSON (\(label))",
                                             mayHaveApplied: true))
            }
            return .success(json)
        case 401, 403:
            return .failure(.unauthorized(
                "Upstash at \(endpoint) refused the token (\(response.status)\(serverError.map { " \($0)" } ?? "")). Check UPSTASH_REDIS_REST_TOKEN (or KV_REST_API_TOKEN): it must be the REST token of this database, the Standard one for writes (a Read Only token cannot write; the TCP password is not a REST token)."))
        case 408, 429, 500..<600:
            let what = response.status == 429 ? "is throttling requests (429)" : "answered \(response.status)"
            return .failure(.unavailable("Upstash at \(endpoint) \(what)\(serverError.map { ": \($0)" } ?? "") (\(label))",
                                         retryAfterMilliseconds: retryAfter, mayHaveApplied: response.status != 429))
        case 300..<400:
            let location = response.header("Location").flatMap { URL(string: $0, relativeTo: requestURL) }.map { UpstashConfiguration.redacted($0.absoluteURL) } ?? "no Location"
            return .failure(.rejected("Upstash at \(endpoint) answered \(response.status), a redirect to \(location). JobLedger does not follow redirects (the token must not go anywhere else): set UPSTASH_REDIS_REST_URL to the database's REST URL itself, https://<your-db>.upstash.io."))
        case 400:
            // How Upstash answers a command that Redis refused (`ERR …`, `WRONGTYPE …`, `NOSCRIPT …`).
            if let serverError { return .failure(.command(serverError)) }
            return .failure(.rejected("Upstash at \(endpoint) answered 400 without saying why (\(label)). Check that UPSTASH_REDIS_REST_URL is the database's REST URL, https://<your-db>.upstash.io."))
        default:
            if let serverError {
                return .failure(.rejected("Upstash at \(endpoint) answered \(response.status): \(serverError) (\(label)). Check that UPSTASH_REDIS_REST_URL is the database's REST URL, https://<your-db>.upstash.io."))
            }
            return .failure(.rejected("Upstash at \(endpoint) answered \(response.status) (\(label)). Check that UPSTASH_REDIS_REST_URL is the database's REST URL, https://<your-db>.upstash.io."))
        }
    }

    /// One `{"result": …}` / `{"error": …}` object as a value or a typed error.
    static func result(of json: JSONValue, command: String) throws(UpstashError) -> RedisValue {
        if let e = json["error"], !e.isNull { throw .command(e.stringValue ?? "\(e)") }
        guard let r = json["result"] else { throw .rejected("Upstash answered \(command) without a result") }
        guard let v = RedisValue.decodeBase64Result(r) else { throw .rejected("Upstash answered \(command) with a value that is not a Redis reply") }
        return v
    }

    static func entries(of json: JSONValue, commands: [[String]]) throws(UpstashError) -> [Result<RedisValue, UpstashError>] {
        guard case .array(let items) = json, items.count == commands.count else {
            throw .rejected("Upstash answered a batch of \(commands.count) commands with something else than \(commands.count) replies")
        }
        var out: [Result<RedisValue, UpstashError>] = []
        out.reserveCapacity(items.count)
        for (item, command) in zip(items, commands) {
            do throws(UpstashError) { out.append(.success(try result(of: item, command: command.first ?? "?"))) } catch { out.append(.failure(error)) }
        }
        return out
    }

    /// One command as the JSON array `/` takes.
    static func encode(command: [String]) -> Data {
        Data(JSONValue.array(command.map(JSONValue.string)).canonicalText.utf8)
    }

    /// Commands as the array of arrays `/pipeline` and `/multi-exec` take.
    static func encode(_ commands: [[String]]) -> Data {
        Data(JSONValue.array(commands.map { .array($0.map(JSONValue.string)) }).canonicalText.utf8)
    }

    /// The replies of a batch, each command's own error scrubbed of the token (a server message
    /// such as `NOPERM` may quote it); a batch answered with something else is scrubbed too.
    private func scrubbedEntries(of json: JSONValue, commands: [[String]]) throws(UpstashError) -> [Result<RedisValue, UpstashError>] {
        do { return try Self.entries(of: json, commands: commands).map { $0.mapError { scrub($0) } } } catch { throw scrub(error) }
    }

    /// Removes the token from a message, should a server or proxy ever echo it. Every error
    /// that leaves this client goes through here: a request's, a command's, each of a batch's.
    private func scrub(_ e: UpstashError) -> UpstashError {
        switch e {
        case .unauthorized(let m): .unauthorized(scrub(text: m))
        case .command(let m): .command(scrub(text: m))
        case .rejected(let m): .rejected(scrub(text: m))
        case .unavailable(let m, let a, let applied): .unavailable(scrub(text: m), retryAfterMilliseconds: a, mayHaveApplied: applied)
        }
    }

    /// `text` without the token, whole or any piece of eight characters or more (a server that
    /// quotes part of it).
    private func scrub(text: String) -> String {
        redactingSecret(token.reveal(), in: text)
    }

    static func retryAfterMilliseconds(_ value: String) -> Int64? {
        let v = value.trimmingCharacters(in: .whitespaces)
        guard let s = Int64(v), s >= 0 else { return nil }
        return s > Int64.max / 2000 ? Int64.max / 2 : s * 1000
    }

    // MARK: - Which commands may be sent twice

    /// Commands whose second run changes nothing the first did not (reads, and writes that set
    /// a value rather than add to one). Anything not listed counts as not idempotent.
    static let idempotentCommands: Set<String> = [
        "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "HGET", "HMGET", "HGETALL", "HEXISTS", "HLEN", "HKEYS", "HVALS",
        "LLEN", "LRANGE", "LINDEX", "SCARD", "SISMEMBER", "SMEMBERS", "SMISMEMBER", "ZSCORE", "ZRANGE", "ZCARD", "ZRANK",
        "XLEN", "XRANGE", "XREVRANGE", "XPENDING", "XINFO", "PING", "ECHO", "DBSIZE", "TIME", "SCRIPT", "EVALSHA_RO", "EVAL_RO",
        "SET", "MSET", "HSET", "HMSET", "HDEL", "DEL", "UNLINK", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST",
        "SADD", "SREM", "ZADD", "ZREM", "XACK", "XDEL", "XGROUP", "XTRIM", "SETEX", "PSETEX",
    ]

    /// True when `command` may be sent again after a request that may have reached the server.
    /// `SET … GET`, `XADD` with `*`, `INCR`, `EVAL`, `XREADGROUP`, `XAUTOCLAIM` … are not.
    public static func isIdempotent(_ command: [String]) -> Bool {
        guard let name = command.first?.uppercased() else { return false }
        if name == "SET" { return !command.dropFirst(3).contains { $0.uppercased() == "GET" } }
        if name == "XGROUP" { return command.count > 1 && command[1].uppercased() != "CREATECONSUMER" }
        if name == "XADD" { return !command.contains("*") }  // an explicit id cannot be added twice
        return idempotentCommands.contains(name)
    }

    // MARK: - Showing it

    /// `UpstashRedis(url: …, token: <redacted>, …)`: the redacted URL and settings, never the token.
    public var description: String {
        "UpstashRedis(url: \(UpstashConfiguration.redacted(url)), token: <redacted>, requestTimeout: \(requestTimeout), retries: \(retries))"
    }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// What `dump` and debuggers show: the redacted URL and settings, no token.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": UpstashConfiguration.redacted(url), "token": "<redacted>", "requestTimeout": requestTimeout,
                                "retries": retries], displayStyle: .class)
    }
}

/// A Lua script run with `EVALSHA` (its SHA-1 computed here from its text) and `EVAL` as the
/// fallback.
public struct LuaScript: Sendable, Hashable {
    /// The script's Lua text, sent with `EVAL` when Redis has not cached it.
    public let source: String
    /// Lowercase hex SHA-1 of `source`: what `EVALSHA` names it by.
    public let sha1: String

    /// A script of this text; its SHA-1 is computed here, once.
    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Data(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    func evalsha(keys: [String], args: [String]) -> [String] { ["EVALSHA", sha1, String(keys.count)] + keys + args }
    func eval(keys: [String], args: [String]) -> [String] { ["EVAL", source, String(keys.count)] + keys + args }
}
