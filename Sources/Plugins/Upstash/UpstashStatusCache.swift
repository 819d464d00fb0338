import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

/// The status cache on Upstash: each job's current state in the hash `<prefix><job id>`
/// (`design:jobs:<id>` by default, the prefix following the intake stream's name), for the web
/// app to read with `HGETALL` — the fields `state`, `progress` (0…1), `attempt`, `message`,
/// `preview_url`, `result_url`, `error` (JSON text), `version` and `updated_at` (ISO-8601), the
/// same names as the broadcast message. A finished job's hash expires after `terminalTTLSeconds`.
///
/// An effect projection delivered through the outbox (at least once, in order, retries, dead
/// letters, re-drive). A small Lua script writes a hash only when its stored `version` is older
/// than the one delivered, atomically, so a retry, a re-drive or a replay never moves a job's
/// status backwards. Progress is coalesced (latest wins) like the broadcast's. Waits for the
/// blob projection, so that the URLs are there.
public struct UpstashStatusCache: EffectProjection {
    /// `status-cache`: the projection's name (its cursor, outbox and dead letters).
    public static let projectionName = ProjectionName("status-cache")
    /// `status-cache`.
    public let name = UpstashStatusCache.projectionName
    /// The client the hashes are written through.
    public let redis: UpstashRedis
    /// Hash names are this prefix plus the job id.
    public let prefix: String
    /// Seconds a finished job's hash lives (default 86400); an unfinished job's hash never expires.
    public let terminalTTLSeconds: Int
    /// Hashes written per `/pipeline` request.
    public let batchSize: Int

    /// A status cache writing `<prefix><job id>` through `redis`; a `batchSize` below 1 counts as 1.
    public init(redis: UpstashRedis, prefix: String = UpstashConfiguration.defaultStream + ":",
                terminalTTLSeconds: Int = UpstashConfiguration.defaultStatusTTLSeconds, batchSize: Int = 100) {
        self.redis = redis
        self.prefix = prefix
        self.terminalTTLSeconds = terminalTTLSeconds
        self.batchSize = max(1, batchSize)
    }

    /// The status cache for `configuration`: hashes `<stream>:<id>`.
    public init(configuration: UpstashConfiguration, redis: UpstashRedis) {
        self.init(redis: redis, prefix: configuration.stream + ":", terminalTTLSeconds: configuration.statusTTLSeconds)
    }

    /// The blob projection: the hashes carry the URLs it published.
    public var dependencies: [ProjectionName] { [.blob] }
    /// `batchSize`: the hashes written per `/pipeline` request.
    public var preferredBatchSize: Int? { batchSize }
    /// `status`, in `replay --effects`.
    public var effectLabel: String { "status" }

    /// One hash write per event: the job's state after it, with the preview and result URLs from
    /// the blob receipts; a progress write is supersedable (a later one of the job replaces it).
    public func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        let paths = state.artefactPathnames
        let status = UpstashJobStatus(state: state, previewURL: paths.preview.flatMap { receipts(.blob, $0.description) },
                                      resultURL: paths.result.flatMap { receipts(.blob, $0.description) })
        return [OutboxDraft(target: prefix + state.id.rawValue, body: status.json.canonicalText, supersedable: event.type == .progress)]
    }

    /// Writes the hashes with one `/pipeline` of script calls (safe to send twice). A failed
    /// request fails them all; a hash Redis refused fails alone, as a rejection.
    public func deliver(_ items: [OutboxItem]) async -> Delivery {
        var calls: [(keys: [String], args: [String])] = []
        for item in items {
            guard let status = try? UpstashJobStatus(text: item.body) else {
                return .failed([item], .rejected("outbox item \(item.seq) does not hold a valid job status"), after: [OutboxItem]())
            }
            calls.append(([item.target], status.scriptArguments(ttlSeconds: status.isTerminal ? terminalTTLSeconds : 0)))
        }
        let results: [Result<RedisValue, UpstashError>]
        do {
            // The script writes only what is newer than what is stored: safe to send twice.
            results = try await redis.evalPipeline(Self.script, calls: calls, idempotent: true)
        } catch {
            return .failed(items, error.sinkError, after: [OutboxItem]())
        }
        var delivered: [OutboxItem] = []
        var failed: [OutboxItem] = []
        var firstError: SinkError?
        for (item, r) in zip(items, results) {
            switch r {
            case .success: delivered.append(item)
            case .failure(let e):
                failed.append(item)
                if firstError == nil { firstError = .rejected("status hash \(item.target): \(e.sinkError)") }
            }
        }
        guard let firstError else { return .delivered(items) }
        return .failed(failed, firstError, after: delivered)
    }

    /// `HSET <hash> state=<state> version=<n>`, in `replay --effects`.
    public func summary(of draft: OutboxDraft) -> String {
        guard let s = try? UpstashJobStatus(text: draft.body) else { return draft.body }
        return "HSET \(draft.target) state=\(s.state.rawValue) version=\(s.version)"
    }

    /// KEYS[1]: the hash. ARGV: version, TTL in seconds (0: none), n, n field/value pairs, then
    /// the fields to remove. Writes only when the stored version is older; returns 1 when it
    /// wrote, 0 when what is stored is as new or newer.
    public static let script = LuaScript("""
        local stored = tonumber(redis.call('HGET', KEYS[1], 'version'))
        local version = tonumber(ARGV[1])
        if stored and stored >= version then return 0 end
        local n = tonumber(ARGV[3])
        local set = {'version', ARGV[1]}
        for i = 4, 3 + 2 * n do set[#set + 1] = ARGV[i] end
        redis.call('HSET', KEYS[1], unpack(set))
        local gone = {}
        for i = 4 + 2 * n, #ARGV do gone[#gone + 1] = ARGV[i] end
        if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
        return 1
        """)
}

/// What the status hash holds for one job.
public struct UpstashJobStatus: Sendable, Hashable {
    /// The job's status, the field `state` (`queued`, `running`, `completed`, `failed`, `canceled`).
    public var state: JobStatus
    /// Progress of the current attempt, 0…1.
    public var progress: Double
    /// Attempts started so far (0 until the first).
    public var attempt: Int
    /// The latest progress note of the current attempt; nil: none (the field is removed).
    public var message: String?
    /// The preview's public URL, the field `preview_url`; nil until the blob projection published one.
    public var previewURL: String?
    /// The result's public URL, the field `result_url`; nil until the blob projection published one.
    public var resultURL: String?
    /// The latest failure, as JSON text in the field `error`; nil: none.
    public var error: JobFailure?
    /// The version of the job's last event: a hash is only written over an older one.
    public var version: Int
    /// When the job's latest event was recorded, the field `updated_at` (ISO-8601).
    public var updatedAt: Timestamp

    /// The status of the job `s`, with its artefacts' URLs (nil: none yet).
    public init(state s: JobState, previewURL: String?, resultURL: String?) {
        state = s.status; progress = s.progress; attempt = s.attempt; message = s.progressMessage
        self.previewURL = previewURL; self.resultURL = resultURL; error = s.lastError; version = s.version; updatedAt = s.updatedAt
    }

    /// True once the job is `completed`, `failed` or `canceled`: its hash then expires.
    public var isTerminal: Bool { state.isTerminal }

    static func errorJSON(_ e: JobFailure) -> JSONValue {
        .object(["code": .string(e.code), "message": .string(e.message), "retryable": .bool(e.retryable), "attempt": .int(Int64(e.attempt))])
    }

    /// The hash's fields, as the web app reads them; nil values are removed from the hash.
    public var fields: [(name: String, value: String?)] {
        [("state", state.rawValue), ("progress", JSONValue.double(progress).canonicalText), ("attempt", String(attempt)),
         ("message", message), ("preview_url", previewURL), ("result_url", resultURL),
         ("error", error.map { Self.errorJSON($0).canonicalText }), ("updated_at", updatedAt.iso8601)]
    }

    func scriptArguments(ttlSeconds: Int) -> [String] {
        let set = fields.compactMap { f in f.value.map { (f.name, $0) } }
        let gone = fields.filter { $0.value == nil }.map(\.name)
        return [String(version), String(ttlSeconds), String(set.count)] + set.flatMap { [$0.0, $0.1] } + gone
    }

    /// How it is kept in the outbox.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["version": .int(Int64(version))]
        for f in fields { o[f.name] = f.value.map(JSONValue.string) ?? .null }
        return .object(o)
    }

    /// Reads back what `json` wrote (the outbox body). Throws when it is not JSON or lacks `state`,
    /// `version`, `progress`, `attempt` or `updated_at`; an `error` it cannot read becomes nil.
    public init(text: String) throws {
        let v = try JSONValue(parsing: text)
        struct Bad: Error {}
        guard let st = v["state"]?.stringValue, let state = JobStatus(rawValue: st), let version = v["version"]?.intValue,
              let progress = v["progress"]?.stringValue.flatMap(Double.init), let attempt = v["attempt"]?.stringValue.flatMap(Int.init),
              let updated = v["updated_at"]?.stringValue.flatMap({ Timestamp(iso8601: $0) })
        else { throw Bad() }
        self.state = state; self.version = Int(version); self.progress = progress; self.attempt = attempt; self.updatedAt = updated
        message = v["message"]?.stringValue
        previewURL = v["preview_url"]?.stringValue
        resultURL = v["result_url"]?.stringValue
        if let e = v["error"]?.stringValue, let ev = try? JSONValue(parsing: e), let code = ev["code"]?.stringValue,
           let m = ev["message"]?.stringValue, let r = ev["retryable"]?.boolValue, let a = ev["attempt"]?.intValue {
            error = JobFailure(code: code, message: m, retryable: r, attempt: Int(a))
        } else {
            error = nil
        }
    }
}
