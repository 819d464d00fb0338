import Foundation
import JobLedger
import JobLedgerEngine
import Logging
import Synchronization

/// Job intake from a Redis stream on Upstash (`design:jobs` by default) through a consumer
/// group: what the web app's `createJob` writes with `XADD` becomes a `queued` job, once.
///
/// - The group is created with `MKSTREAM` when missing, from the stream's start (`0`), so
///   entries written before the first worker ran are taken in too.
/// - REST has no blocking reads: `pull` polls `XREADGROUP … COUNT n STREAMS <stream> >`; the
///   engine backs off while nothing comes (`IdleBackoff`).
/// - Each entry's idempotency key is its `idempotency_key` field when given, else
///   `upstash:<stream>:<entry id>`: an entry delivered again never makes a second job.
/// - `XACK` only after the `queued` events are committed; acknowledgements go out in the same
///   `/pipeline` request as the next read.
/// - Entries left pending by a consumer that died (idle longer than `claimIdle`) are taken over
///   with `XAUTOCLAIM`; after a failed read, the consumer's own pending entries are read again.
/// - A malformed entry (no `input`, bad JSON, an unknown kind, a field out of range) is copied
///   to `<stream>:dead` with `dead_reason`, acknowledged (both in one script), and logged; the
///   intake goes on with the next ones.
///
/// Entry fields (flat strings, as the web app writes them): `input` (JSON text, required),
/// `kind` (default: the stream name's first part, `design` for `design:jobs`), `priority`,
/// `run_at` (ISO-8601, or milliseconds since 1970), `max_attempts`, `idempotency_key`,
/// `owner`. Docs/Adapters/Upstash.md has a `createJob` for the web app.
public final class UpstashStreamIntake: JobIntake, Sendable {
    /// Which stream, group and consumer the intake reads as, and how much at a time.
    public struct Options: Sendable {
        /// The stream's key (default `design:jobs`).
        public var stream: String
        /// The consumer group (default `jobledger`).
        public var group: String
        /// This worker's consumer name (default `<host>-<pid>`).
        public var consumer: String
        /// The dead-letter stream (default `<stream>:dead`).
        public var deadLetterStream: String
        /// The kind of an entry without a `kind` field (default: the stream name up to its first `:`).
        public var defaultKind: String
        /// The kinds accepted; an entry of another kind is a dead letter. Nil: any.
        public var kinds: Set<String>?
        /// Entries read per pull (≤ 1000: Upstash caps a consumer's pending entries at 1000).
        public var batchSize = 500
        /// How long an entry stays pending with another consumer before it is taken over.
        public var claimIdle: Duration = .seconds(60)
        /// How often to look for such entries.
        public var claimEvery: Duration = .seconds(5)
        /// When set, each job's `owner` is written to `<prefix><job id>` (the status hash) as the
        /// field `owner`, for the web app to check who may read it.
        public var ownerHashPrefix: String?

        /// Options for `stream`: the dead letters go to `<stream>:dead`, the default kind is the stream
        /// name up to its first `:`. `kinds` nil: any kind is accepted.
        public init(stream: String = UpstashConfiguration.defaultStream, group: String = UpstashConfiguration.defaultGroup,
                    consumer: String = UpstashConfiguration.defaultConsumer, kinds: Set<String>? = nil) {
            self.stream = stream
            self.group = group
            self.consumer = consumer
            self.deadLetterStream = stream + ":dead"
            self.defaultKind = String(stream.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(stream))
            self.kinds = kinds
        }
    }

    /// What `intake status` shows: the group's standing on the stream.
    public struct Status: Sendable, Hashable {
        /// The stream's key.
        public var stream: String
        /// The consumer group's name.
        public var group: String
        /// Entries in the stream (`XLEN`).
        public var length: Int64
        /// False when the group does not exist yet (no worker has run).
        public var groupExists: Bool
        /// Entries not yet delivered to the group (nil when Redis cannot tell).
        public var lag: Int64?
        /// Entries delivered but not acknowledged.
        public var pending: Int64
        /// Consumers in the group (0 when it does not exist).
        public var consumers: Int64
        /// The ID of the last entry delivered to the group; nil when the group does not exist.
        public var lastDeliveredID: String?
        /// Entries in the dead-letter stream.
        public var deadLetters: Int64
        /// The dead-letter stream's key.
        public var deadLetterStream: String
    }

    /// A malformed entry, as it was dead-lettered.
    public struct Refusal: Sendable, Hashable {
        /// The stream entry's ID.
        public var entryID: String
        /// Why it was refused, as written to its copy's `dead_reason` field.
        public var reason: String
    }

    /// The client the stream is read through.
    public let redis: UpstashRedis
    /// The stream, group, consumer and limits it reads with.
    public let options: Options
    private let logger: Logger
    private let clock: @Sendable () -> Timestamp

    private struct State {
        var groupReady = false
        var acks: [String] = []
        var owners: [(key: String, owner: String)] = []
        var recoverOwn = true
        var lastClaim: ContinuousClock.Instant?
        var submitted = 0
        var refused: [Refusal] = []
    }
    private let state = Mutex(State())

    /// An intake on `options.stream` through `redis`; nothing is sent before the first `pull` or
    /// `ensureGroup()`. `clock` dates the check of each entry (tests).
    public init(redis: UpstashRedis, options: Options = Options(), logger: Logger = Logger(label: "jobledger.upstash.intake"),
                clock: @escaping @Sendable () -> Timestamp = { Timestamp.now }) {
        self.redis = redis
        self.options = options
        self.logger = logger
        self.clock = clock
    }

    /// Requests submitted so far by this intake (duplicates included), and the entries refused.
    public var submittedCount: Int { state.withLock { $0.submitted } }
    /// The entries refused so far (dead-lettered), oldest first.
    public var refusals: [Refusal] { state.withLock { $0.refused } }

    // MARK: - Pulling

    /// Reads one batch in one `/pipeline` request (own pending entries after a failure, entries
    /// taken over, new ones), submits the valid ones and dead-letters the rest; returns how many
    /// entries it read. A refused token or URL throws `JobIntakeStopped`; other failures (an
    /// `UpstashError`, `submit`'s error) are thrown as they are; the entries come back next pull.
    public func pull(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int {
        do {
            return try await pullOnce(submit)
        } catch let e as UpstashError {
            // A refused token or URL will not fix itself: stop the engine's feeding, saying why.
            switch e {
            case .unauthorized, .rejected: throw JobIntakeStopped("\(e)")
            case .command, .unavailable: throw e
            }
        }
    }

    private func pullOnce(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int {
        try await ensureGroup()
        let o = options
        let count = String(max(1, min(1000, o.batchSize)))
        let (acks, owners, recover, claim) = state.withLock { s -> ([String], [(key: String, owner: String)], Bool, Bool) in
            let now = ContinuousClock.now
            let claim = s.lastClaim.map { $0.duration(to: now) >= o.claimEvery } ?? true
            if claim { s.lastClaim = now }
            return (s.acks, s.owners, s.recoverOwn, claim)
        }
        var commands: [[String]] = []
        if !acks.isEmpty { commands.append(["XACK", o.stream, o.group] + acks) }
        for w in owners { commands.append(["HSET", w.key, "owner", w.owner]) }
        let first = commands.count
        if recover { commands.append(["XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", count, "STREAMS", o.stream, "0"]) }
        if claim {
            commands.append(["XAUTOCLAIM", o.stream, o.group, o.consumer, String(Self.milliseconds(o.claimIdle)), "0-0", "COUNT", count])
        }
        commands.append(["XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", count, "STREAMS", o.stream, ">"])

        let replies: [Result<RedisValue, UpstashError>]
        do {
            replies = try await redis.pipeline(commands, idempotent: false)
        } catch {
            // The read may have delivered entries to this consumer that never reached us: read
            // the consumer's own pending entries next time.
            state.withLock { $0.recoverOwn = true }
            throw error
        }
        // Acknowledgements and owner fields that went through are done; a failed one is sent again.
        state.withLock { s in
            if !acks.isEmpty, case .success = replies[0] { s.acks.removeFirst(min(acks.count, s.acks.count)) }
            let ownerReplies = replies[(acks.isEmpty ? 0 : 1)..<first]
            if ownerReplies.allSatisfy({ if case .success = $0 { return true }; return false }) {
                s.owners.removeFirst(min(owners.count, s.owners.count))
            }
        }
        var entries: [(id: String, fields: StreamEntryFields?)] = []
        var seen = Set<String>()
        var index = first
        func take(_ list: [RedisValue]) {
            for e in list {
                guard let pair = e.array, pair.count == 2, let id = pair[0].string, seen.insert(id).inserted else { continue }
                entries.append((id, StreamEntryFields(pair[1])))
            }
        }
        if recover {
            let r = try replies[index].get()
            let own = Self.streamEntries(r)
            take(own)
            if own.count < Int(count)! { state.withLock { $0.recoverOwn = false } }
            index += 1
        }
        if claim {
            let r = try replies[index].get()
            if let parts = r.array, parts.count >= 2, let claimed = parts[1].array { take(claimed) }
            index += 1
        }
        take(Self.streamEntries(try replies[index].get()))
        if entries.isEmpty { return 0 }

        // Entries deleted from the stream while pending come back without fields: nothing to do but acknowledge.
        var valid: [(id: String, submission: JobSubmission, owner: String?)] = []
        var refused: [(id: String, reason: String, raw: [String])] = []
        var gone: [String] = []
        for e in entries {
            guard let fields = e.fields else { gone.append(e.id); continue }
            switch parse(id: e.id, fields: fields) {
            case .success(let (s, owner)): valid.append((e.id, s, owner))
            case .failure(let reason): refused.append((e.id, reason.text, fields.raw))
            }
        }
        if !valid.isEmpty {
            let ids: [JobID?]
            do {
                ids = try await submit(valid.map(\.submission))
            } catch let r as JobSubmissionsRefused where r.jobs.count == valid.count {
                // The others are committed; the refused ones are dead-lettered below, never
                // delivered again (the log would refuse them again, for ever).
                ids = r.jobs
                for (i, reason) in r.refusals { refused.append((valid[i].id, reason, entries.first { $0.id == valid[i].id }?.fields?.raw ?? [])) }
            } catch {
                state.withLock { $0.recoverOwn = true }
                throw error
            }
            state.withLock { s in
                let queued = zip(valid, ids).compactMap { v, id in id.map { (v, $0) } }
                s.submitted += queued.count
                s.acks += queued.map(\.0.id)
                if let prefix = options.ownerHashPrefix {
                    for (v, id) in queued { if let owner = v.owner { s.owners.append((prefix + id.rawValue, owner)) } }
                }
            }
        }
        if !gone.isEmpty { state.withLock { $0.acks += gone } }
        if !refused.isEmpty {
            do { try await deadLetter(refused) } catch {
                // Not dead-lettered: still pending with this consumer, read again next time.
                state.withLock { $0.recoverOwn = true }
                throw error
            }
        }
        return entries.count
    }

    /// Sends the held-back acknowledgements (and owner fields) now.
    public func flush() async throws {
        let (acks, owners) = state.withLock { ($0.acks, $0.owners) }
        var commands: [[String]] = []
        if !acks.isEmpty { commands.append(["XACK", options.stream, options.group] + acks) }
        for w in owners { commands.append(["HSET", w.key, "owner", w.owner]) }
        guard !commands.isEmpty else { return }
        for r in try await redis.pipeline(commands, idempotent: true) { _ = try r.get() }
        state.withLock { s in
            s.acks.removeFirst(min(acks.count, s.acks.count))
            s.owners.removeFirst(min(owners.count, s.owners.count))
        }
    }

    /// Creates the consumer group (and the stream) unless it exists.
    public func ensureGroup() async throws {
        if state.withLock({ $0.groupReady }) { return }
        do {
            try await redis.send(["XGROUP", "CREATE", options.stream, options.group, "0", "MKSTREAM"], idempotent: true)
        } catch {
            guard error.isCommandError("BUSYGROUP") else { throw error }  // BUSYGROUP: it exists
        }
        state.withLock { $0.groupReady = true }
    }

    // MARK: - Entries

    struct Reason: Error { let text: String }

    /// The submission an entry stands for, or why it is malformed.
    func parse(id: String, fields entry: StreamEntryFields) -> Result<(JobSubmission, String?), Reason> {
        // A field the intake reads must be text; any other field may hold anything (it is ignored).
        if let name = Self.fieldsRead.first(where: entry.binary.contains) {
            return .failure(Reason(text: "field '\(name)' is not UTF-8 text"))
        }
        let fields = entry.texts
        guard let inputText = fields["input"] else { return .failure(Reason(text: "missing field 'input' (the job's input as JSON text)")) }
        let input: JSONValue
        do { input = try JSONValue(parsing: inputText) } catch { return .failure(Reason(text: "field 'input' is not JSON: \(error)")) }
        let kind = fields["kind"] ?? options.defaultKind
        if let kinds = options.kinds, !kinds.contains(kind) {
            return .failure(Reason(text: "unknown kind '\(kind.prefix(100))' (this worker runs: \(kinds.sorted().joined(separator: ", ")))"))
        }
        func int(_ name: String, default d: Int) -> Result<Int, Reason> {
            guard let t = fields[name] else { return .success(d) }
            guard let n = Int(t.trimmingCharacters(in: .whitespaces)) else { return .failure(Reason(text: "field '\(name)' must be a whole number, got '\(t.prefix(40))'")) }
            return .success(n)
        }
        let priority: Int, maxAttempts: Int
        switch int("priority", default: 0) { case .success(let v): priority = v; case .failure(let r): return .failure(r) }
        switch int("max_attempts", default: 3) { case .success(let v): maxAttempts = v; case .failure(let r): return .failure(r) }
        var runAt: Timestamp?
        if let t = fields["run_at"], !t.isEmpty {
            guard let at = Int64(t).map({ Timestamp(milliseconds: $0) }) ?? Timestamp(rfc3339: t) else {
                return .failure(Reason(text: "field 'run_at' must be an RFC 3339 time such as 2026-01-31T12:00:00Z or 2026-01-31T13:00:00+01:00 (or Unix milliseconds), got '\(t.prefix(40))'"))
            }
            runAt = at
        }
        let key = fields["idempotency_key"].flatMap { $0.isEmpty ? nil : $0 } ?? "upstash:\(options.stream):\(id)"
        let owner = fields["owner"].flatMap { $0.isEmpty ? nil : $0 }
        if let owner, owner.utf8.count > 200 { return .failure(Reason(text: "field 'owner' is longer than 200 bytes")) }
        let s = JobSubmission(kind: kind, input: input, idempotencyKey: key, runAt: runAt, maxAttempts: maxAttempts, priority: priority, owner: owner)
        do { _ = try s.newEvent(job: JobID.generate(at: clock())) } catch { return .failure(Reason(text: error.reason)) }
        return .success((s, owner))
    }

    /// The fields `parse` reads; others are ignored.
    static let fieldsRead = ["input", "kind", "priority", "max_attempts", "run_at", "idempotency_key", "owner"]

    /// Copies refused entries to the dead-letter stream and acknowledges them, each atomically
    /// and only while it is still pending (so a retry never copies one twice).
    private func deadLetter(_ refused: [(id: String, reason: String, raw: [String])]) async throws {
        // In requests of about `deadLetterRequestBytes` at most: refused entries may each be
        // over the log's payload limit, and one request with all of them could pass the
        // service's own request limit, and be refused for good.
        var chunks: [[(id: String, reason: String, raw: [String])]] = [[]]
        var bytes = 0
        for r in refused {
            let size = r.raw.reduce(r.reason.utf8.count + r.id.utf8.count) { $0 + $1.utf8.count }
            if !chunks[chunks.count - 1].isEmpty, bytes + size > Self.deadLetterRequestBytes { chunks.append([]); bytes = 0 }
            chunks[chunks.count - 1].append(r)
            bytes += size
        }
        for chunk in chunks { try await deadLetterRequest(chunk) }
    }

    /// The most bytes of entries in one dead-letter request (one entry may pass it alone).
    static let deadLetterRequestBytes = 512 * 1024

    private func deadLetterRequest(_ refused: [(id: String, reason: String, raw: [String])]) async throws {
        let calls = refused.map { r in
            (keys: [options.stream, options.deadLetterStream], args: [options.group, r.id, r.reason, options.consumer] + r.raw)
        }
        let results = try await redis.evalPipeline(Self.deadLetterScript, calls: calls, idempotent: true)
        for (r, result) in zip(refused, results) {
            _ = try result.get()
            logger.warning("stream entry refused and dead-lettered",
                           metadata: ["stream": "\(options.stream)", "entry": "\(r.id)", "reason": "\(r.reason)", "dead_letters": "\(options.deadLetterStream)"])
            state.withLock { $0.refused.append(Refusal(entryID: r.id, reason: r.reason)) }
        }
    }

    /// KEYS: stream, dead-letter stream. ARGV: group, entry id, reason, consumer, the entry's
    /// fields. Copies and acknowledges the entry if it is still pending; returns 1, or 0 when it
    /// was not pending (already handled).
    static let deadLetterScript = LuaScript("""
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
        if #pending == 0 then return 0 end
        local fields = {}
        for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
        fields[#fields + 1] = 'dead_reason'; fields[#fields + 1] = ARGV[3]
        fields[#fields + 1] = 'dead_entry_id'; fields[#fields + 1] = ARGV[2]
        fields[#fields + 1] = 'dead_consumer'; fields[#fields + 1] = ARGV[4]
        redis.call('XADD', KEYS[2], '*', unpack(fields))
        redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
        return 1
        """)

    /// The entries of an `XREADGROUP` reply for one stream (`[[stream, [[id, fields] …]]]`, or nil).
    static func streamEntries(_ reply: RedisValue) -> [RedisValue] {
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { return [] }
        return first[1].array ?? []
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    // MARK: - Status

    /// The group's lag, pending entries and dead letters.
    public func status() async throws -> Status {
        let replies = try await redis.pipeline([
            ["XLEN", options.stream], ["XINFO", "GROUPS", options.stream], ["XLEN", options.deadLetterStream],
        ], idempotent: true)
        let length = try replies[0].get().int ?? 0
        let dead = try replies[2].get().int ?? 0
        var s = Status(stream: options.stream, group: options.group, length: length, groupExists: false, lag: nil, pending: 0,
                       consumers: 0, lastDeliveredID: nil, deadLetters: dead, deadLetterStream: options.deadLetterStream)
        // XINFO GROUPS on a missing stream is an error ("no such key"): no group then.
        guard case .success(let groups) = replies[1], let list = groups.array else { return s }
        for g in list {
            guard let a = g.array else { continue }
            var info: [String: RedisValue] = [:]
            var i = 0
            while i + 1 < a.count { if let k = a[i].string { info[k] = a[i + 1] }; i += 2 }
            guard info["name"]?.string == options.group else { continue }
            s.groupExists = true
            s.pending = info["pending"]?.int ?? 0
            s.consumers = info["consumers"]?.int ?? 0
            s.lastDeliveredID = info["last-delivered-id"]?.string
            s.lag = info["lag"].flatMap { $0.isNull ? nil : $0.int }
        }
        return s
    }
}
