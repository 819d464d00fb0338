import Foundation
import GRDB
import JobLedger
import Synchronization

/// The projections the log keeps beside its events.
public enum ProjectionName: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The `jobs` table: every job's current row, written with its checkpoint (exactly once).
    case jobs
    /// Publishes staged assets to a `BlobStore` (at least once, via the outbox).
    case blob
    /// Sends job messages to a `BroadcastSink` (at least once, via the outbox); waits for `blob`.
    case broadcast

    public var description: String { rawValue }
    /// True for projections that talk to the outside world through the outbox.
    public var isEffect: Bool { self != .jobs }

    /// What a projection waits for: the broadcast of a `lowres` or `completed` event carries
    /// the artefact's URL, so it is taken in only once the blob projection has published it
    /// (when a blob projection runs).
    public var dependencies: [ProjectionName] {
        switch self {
        case .jobs, .blob: []
        case .broadcast: [.blob]
        }
    }
}

/// The right to run an effect projection for a while, as `Ledger.acquireProjection` grants
/// it: who holds it, in which generation (a new one with each change of owner), until when.
public struct ProjectionLease: Sendable, Hashable {
    public var projection: ProjectionName
    public var owner: String
    public var generation: Int64
    public var until: Timestamp
}

/// Where a projection stands: how far it has read the log and what it still owes.
public struct ProjectionStatus: Sendable, Hashable {
    public var name: ProjectionName
    /// The last `seq` the projection has taken in (applied, or put in its outbox).
    public var checkpoint: Int64
    /// The log's last `seq`.
    public var head: Int64
    /// Events the projection has applied (the jobs table) or taken in (effects).
    public var applied: Int64
    public var pending: Int
    public var dead: Int
    public var sent: Int
    public var coalesced: Int
    /// When the oldest pending item is next tried.
    public var nextAttemptAt: Timestamp?
    /// The most recent error of a pending or dead item.
    public var lastError: String?
    public var owner: String?

    /// Events behind the log's head.
    public var lag: Int64 { max(0, head - checkpoint) }
}

/// One effect waiting in (or done from) a projection's outbox: one per event at most.
public struct OutboxItem: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable {
        case pending, sent, dead, coalesced
    }
    public var projection: ProjectionName
    public var seq: Int64
    public var job: JobID
    public var version: Int
    public var type: EventType
    /// The stream (broadcast) or blob pathname (blob).
    public var target: String
    /// The message text (broadcast) or the asset reference as JSON (blob).
    public var body: String
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Timestamp
    public var lastError: String?
    public var sentAt: Timestamp?

    static let columns = "projection, seq, job_id, version, type, target, body, status, attempts, next_attempt_at, last_error, sent_at"

    init(row: Row) throws {
        guard let p = ProjectionName(rawValue: row[0]), let t = EventType(rawValue: row[4]),
              let st = Status(rawValue: row[7]) else { throw LedgerError.storage("the outbox holds a row this version cannot read") }
        projection = p
        seq = row[1]
        job = try JobID(row[2] as String)
        version = row[3]
        type = t
        target = row[5]
        body = row[6]
        status = st
        attempts = row[8]
        nextAttemptAt = Timestamp(milliseconds: row[9])
        lastError = row[10]
        sentAt = (row[11] as Int64?).map(Timestamp.init(milliseconds:))
    }

    /// The asset of a blob item.
    public var asset: AssetRef? {
        guard let v = try? JSONValue(parsing: body), let sha = v["sha256"]?.stringValue, let size = v["size"]?.intValue,
              let ct = v["content_type"]?.stringValue else { return nil }
        return AssetRef(sha256: sha, size: size, contentType: ct)
    }
}

/// What a projection's outbox has to deliver now.
public enum DueItems: Sendable, Hashable {
    /// Nothing pending.
    case none
    /// The oldest pending item may not be tried before this time (it is backing off).
    case notBefore(Timestamp)
    /// The oldest pending items, in `seq` order, due now.
    case due([OutboxItem])
}

/// Job states the projections need before an event (the state the event applies to), kept
/// for jobs in flight, and folded from the log for any other job. One per projection.
public final class StateCache: Sendable {
    private let states = Mutex<[JobID: JobState]>([:])
    static let limit = 50_000

    public init() {}

    /// The job's state just before its event `version`.
    func before(_ job: JobID, version: Int, db: Database) throws -> JobState? {
        if version == 1 { return nil }
        if let s = states.withLock({ $0[job] }), s.version == version - 1 { return s }
        return try Ledger.foldJob(db, job: job, from: nil, through: version - 1)
    }

    func remember(_ s: JobState) {
        states.withLock { m in
            if m.count > StateCache.limit { m.removeAll(keepingCapacity: true) }
            m[s.id] = s.status.isTerminal && s.status != .failed ? nil : s
        }
    }
}

extension Ledger {
    // MARK: - Checkpoints and ownership

    static func ensureProjection(_ db: Database, _ name: ProjectionName, now: Int64) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO projections (name, updated_at) VALUES (?, ?)", arguments: [name.rawValue, now])
    }

    static func checkpoint(_ db: Database, _ name: ProjectionName) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT checkpoint FROM projections WHERE name = ?"), arguments: [name.rawValue]) ?? 0
    }

    static func advance(_ db: Database, _ name: ProjectionName, to seq: Int64, applied: Int, now: Int64) throws {
        try db.execute(sql: "UPDATE projections SET checkpoint = ?, applied = applied + ?, updated_at = ? WHERE name = ?",
                       arguments: [seq, applied, now, name.rawValue])
    }

    /// Takes (or renews) the right to run `name` for `leaseMilliseconds`, unless another
    /// owner's lease is still running. Two processes on one log then never both deliver the
    /// same outbox. Returns the lease, or nil when another owner holds it.
    /// `replacing` names an owner known to be gone (a crashed process), whose lease is taken
    /// over at once. Each change of owner starts a new generation; the outbox writes of a
    /// holder check its generation, so a holder that was taken over writes nothing more.
    public func acquireProjection(_ name: ProjectionName, owner: String, now: Timestamp, leaseMilliseconds: Int64,
                                  replacing gone: String? = nil) async throws(LedgerError) -> ProjectionLease? {
        let until = now.adding(milliseconds: leaseMilliseconds)
        do {
            let generation: Int64? = try await gatedWrite { db in
                try Ledger.ensureProjection(db, name, now: now.milliseconds)
                return try Int64.fetchOne(db, sql: """
                    UPDATE projections SET generation = CASE WHEN owner IS ? THEN generation ELSE generation + 1 END,
                                           owner = ?, lease_until = ?
                    WHERE name = ? AND (owner IS NULL OR owner = ? OR owner = ? OR lease_until IS NULL OR lease_until < ?)
                    RETURNING generation
                    """, arguments: [owner, owner, until.milliseconds, name.rawValue, owner, gone, now.milliseconds])
            }
            return generation.map { ProjectionLease(projection: name, owner: owner, generation: $0, until: until) }
        } catch { throw map(error) }
    }

    /// Refuses (with `projectionTakenOver`) unless `lease` is still the projection's current
    /// one: the same owner, in the same generation. Run inside the write it guards.
    static func checkLease(_ db: Database, _ lease: ProjectionLease) throws {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT owner, generation FROM projections WHERE name = ?"),
                                   arguments: [lease.projection.rawValue])
        let owner: String? = row?[0], generation: Int64? = row?[1]
        guard owner == lease.owner, generation == lease.generation else {
            throw LedgerError.projectionTakenOver(projection: lease.projection.rawValue, owner: owner)
        }
    }

    /// The current owner of a projection, if any.
    public func projectionOwner(_ name: ProjectionName) throws(LedgerError) -> String? {
        guard hasProjections else { return nil }
        return try read { db in try String.fetchOne(db, sql: "SELECT owner FROM projections WHERE name = ?", arguments: [name.rawValue]) }
    }

    /// Gives up the right to run `name` (on shutdown), so another process can take over at once.
    public func releaseProjection(_ name: ProjectionName, owner: String) async {
        _ = try? await gatedWrite { db in
            try db.execute(sql: "UPDATE projections SET owner = NULL, lease_until = NULL WHERE name = ? AND owner = ?",
                           arguments: [name.rawValue, owner])
        }
    }

    /// Every projection's standing.
    public func projectionStatus() throws(LedgerError) -> [ProjectionStatus] {
        guard hasProjections else {
            let head = try self.head()?.seq ?? 0
            return ProjectionName.allCases.map { ProjectionStatus(name: $0, checkpoint: 0, head: head, applied: 0, pending: 0, dead: 0, sent: 0, coalesced: 0) }
        }
        return try read { db in
            let head = try Ledger.fetchHead(db)?.seq ?? 0
            return try ProjectionName.allCases.map { name in
                let p = try Row.fetchOne(db, sql: "SELECT checkpoint, applied, owner, lease_until FROM projections WHERE name = ?", arguments: [name.rawValue])
                var s = ProjectionStatus(name: name, checkpoint: p?[0] ?? 0, head: head, applied: p?[1] ?? 0, pending: 0, dead: 0,
                                         sent: 0, coalesced: 0, nextAttemptAt: nil, lastError: nil, owner: p?[2])
                for row in try Row.fetchAll(db, sql: "SELECT status, count(*) FROM outbox WHERE projection = ? GROUP BY status", arguments: [name.rawValue]) {
                    let n: Int = row[1]
                    switch OutboxItem.Status(rawValue: row[0]) {
                    case .pending: s.pending = n
                    case .sent: s.sent = n
                    case .dead: s.dead = n
                    case .coalesced: s.coalesced = n
                    case nil: break
                    }
                }
                s.nextAttemptAt = try Int64.fetchOne(db, sql: "SELECT next_attempt_at FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status = 'pending' ORDER BY seq LIMIT 1",
                                                     arguments: [name.rawValue]).map(Timestamp.init(milliseconds:))
                s.lastError = try String.fetchOne(db, sql: """
                    SELECT last_error FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status IN ('pending', 'dead') AND attempts > 0 AND last_error IS NOT NULL
                    ORDER BY seq DESC LIMIT 1
                    """, arguments: [name.rawValue])
                return s
            }
        }
    }

    // MARK: - The jobs table (state projection)

    /// Applies up to `limit` events after the jobs projection's checkpoint to the `jobs`
    /// table and moves the checkpoint past them, in one transaction: exactly once. Returns
    /// how many events it applied.
    public func advanceJobsTable(limit: Int, cache: StateCache) async throws(LedgerError) -> Int {
        let now = configuration.clock().milliseconds
        do {
            return try await gatedWrite { db in
                try Ledger.ensureProjection(db, .jobs, now: now)
                let from = try Ledger.checkpoint(db, .jobs)
                let events = try Ledger.projectionInput(db, after: from, through: .max, limit: limit)
                guard let last = events.last else { return 0 }
                // Each job's row is written once per batch, with its last state: the same
                // table as row-by-row, with a fraction of the writes when a job has several
                // events in the batch (a backlog, a rebuild).
                var latest: [JobID: (state: JobState, seq: Int64)] = [:]
                for e in events {
                    if latest[e.job] != nil {
                        // In place: no copy of the job's state per event.
                        try latest[e.job]!.state.apply(e.payload, at: e.recordedAt)
                        latest[e.job]!.seq = e.seq
                    } else {
                        let before = try cache.before(e.job, version: e.version, db: db)
                        latest[e.job] = (try Lifecycle.apply(e.payload, to: before, job: e.job, at: e.recordedAt), e.seq)
                    }
                }
                for (state, seq) in latest.values {
                    cache.remember(state)
                    try Ledger.upsertJob(db, state: state, seq: seq)
                }
                try Ledger.advance(db, .jobs, to: last.seq, applied: events.count, now: now)
                return events.count
            }
        } catch { throw map(error) }
    }

    /// What a projection reads of an event: only the columns it needs (no hashes), decoded
    /// straight from the statement.
    struct ProjectionInput {
        var seq: Int64
        var job: JobID
        var version: Int
        var payload: EventPayload
        var recordedAt: Timestamp
        var type: EventType { payload.type }
    }

    static func projectionInput(_ db: Database, after: Int64, through: Int64, limit: Int) throws -> [ProjectionInput] {
        var out: [ProjectionInput] = []
        out.reserveCapacity(min(limit, 4096))
        let cursor = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT seq, job_id, version, type, payload, recorded_at FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"),
            arguments: [after, through, limit])
        while let row = try cursor.next() {
            let jobText: String = row[1], typeText: String = row[3], payloadText: String = row[4]
            let job: JobID
            do { job = try JobID(jobText) } catch { throw LedgerError.invalidJobID(error) }
            let payload: EventPayload
            do { payload = try EventPayload.decode(type: try EventType(name: typeText), text: payloadText) } catch { throw LedgerError.invalidPayload(error) }
            out.append(ProjectionInput(seq: row[0], job: job, version: row[2], payload: payload, recordedAt: Timestamp(milliseconds: row[5])))
        }
        return out
    }

    static func upsertJob(_ db: Database, state s: JobState, seq: Int64) throws {
        let paths = s.artefactPathnames
        let previewURL = try paths.preview.flatMap { try blobURL(db, pathname: $0.description) }
        let resultURL = try paths.result.flatMap { try blobURL(db, pathname: $0.description) }
        let b = DirectBinding(try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO jobs (id, kind, state, attempt, max_attempts, progress, message, preview_sha256, preview_url,
                                         result_sha256, result_url, error_code, error_message, created_at, started_at,
                                         finished_at, updated_at, version, seq)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        b.text(1, s.id.rawValue)
        b.text(2, s.kind)
        b.text(3, s.status.rawValue)
        b.int(4, Int64(s.attempt))
        b.int(5, Int64(s.maxAttempts))
        b.double(6, s.progress)
        b.text(7, s.progressMessage)
        b.text(8, s.preview?.sha256)
        b.text(9, previewURL)
        b.text(10, s.result?.sha256)
        b.text(11, resultURL)
        b.text(12, s.lastError?.code)
        b.text(13, s.lastError?.message)
        b.int(14, s.createdAt.milliseconds)
        b.int(15, s.startedAt?.milliseconds)
        b.int(16, s.finishedAt?.milliseconds)
        b.int(17, s.updatedAt.milliseconds)
        b.int(18, Int64(s.version))
        b.int(19, seq)
        try b.run(db)
    }

    static func blobURL(_ db: Database, pathname: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT url FROM blobs WHERE pathname = ?"), arguments: [pathname])
    }

    /// The stored `jobs` table, as rows, in id order.
    public func storedJobRows(state: JobStatus? = nil) throws(LedgerError) -> [JobRow] {
        guard hasProjections else { return [] }
        return try read { db in try Ledger.fetchJobRows(db, state: state) }
    }

    static func fetchJobRows(_ db: Database, state: JobStatus? = nil) throws -> [JobRow] {
        var sql = "SELECT id, kind, state, attempt, max_attempts, progress, message, preview_url, result_url, error_code, error_message, created_at, started_at, finished_at, updated_at, version FROM jobs"
        var args: StatementArguments = []
        if let state { sql += " WHERE state = ?"; args = [state.rawValue] }
        return try Row.fetchAll(db, sql: sql + " ORDER BY created_at, id", arguments: args).map { r in
            guard let st = JobStatus(rawValue: r[2]) else { throw LedgerError.storage("the jobs table holds an unknown state") }
            func t(_ i: Int) -> Timestamp? { (r[i] as Int64?).map(Timestamp.init(milliseconds:)) }
            return JobRow(id: try JobID(r[0] as String), kind: r[1], state: st, attempt: r[3], maxAttempts: r[4], progress: r[5],
                          message: r[6], previewURL: r[7], resultURL: r[8], errorCode: r[9], errorMessage: r[10],
                          createdAt: t(11)!, startedAt: t(12), finishedAt: t(13), updatedAt: t(14)!, version: r[15])
        }
    }

    /// Every published blob's URL by pathname.
    public func blobURLs() throws(LedgerError) -> [String: String] {
        guard hasProjections else { return [:] }
        return try read { db in try Ledger.fetchBlobURLs(db) }
    }

    static func fetchBlobURLs(_ db: Database) throws -> [String: String] {
        var m: [String: String] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT pathname, url FROM blobs") { m[r[0]] = r[1] }
        return m
    }

    /// The jobs projection's checkpoint and the log's head, read together.
    public func jobsTableCheckpoint() throws(LedgerError) -> (checkpoint: Int64, head: Int64) {
        guard hasProjections else { return (0, try head()?.seq ?? 0) }
        return try read { db in (try Ledger.checkpoint(db, .jobs), try Ledger.fetchHead(db)?.seq ?? 0) }
    }
}

extension Ledger {
    /// Writes a compact copy of the whole database (events, assets, projections) to a new file:
    /// a consistent snapshot to hand to someone investigating an incident.
    public func vacuum(into path: String) async throws(LedgerError) {
        guard !FileManager.default.fileExists(atPath: path) else { throw .storage("\(path) already exists") }
        do {
            try await gatedWriteWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        } catch { throw map(error) }
    }
}

extension Ledger {
    /// Empties the `jobs` table and sets its checkpoint back to 0, in one transaction: the next
    /// run of the projections rebuilds it from the log. (Effect projections are not reset: that
    /// would send every upload and broadcast again.)
    public func resetJobsTable() async throws(LedgerError) {
        let now = configuration.clock().milliseconds
        do {
            try await gatedWrite { db in
                try Ledger.ensureProjection(db, .jobs, now: now)
                try db.execute(sql: "DELETE FROM jobs")
                try db.execute(sql: "UPDATE projections SET checkpoint = 0, applied = 0, updated_at = ? WHERE name = 'jobs'", arguments: [now])
            }
        } catch { throw map(error) }
    }
}
