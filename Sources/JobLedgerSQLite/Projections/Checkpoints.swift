import Foundation
import GRDB
import JobLedger

/// The storage primitives every projection stands on: a checkpoint per projection name, moved
/// in the same transaction as the projection's own writes, and a lease per effect projection.
/// Nothing here knows what any projection does.
extension Ledger {
    package static func ensureProjection(_ db: Database, _ name: ProjectionName, now: Int64) throws {
        // Cached, as `advance`'s: both run in every step of every projection.
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO projections (name, updated_at) VALUES (?, ?)").execute(arguments: [name.rawValue, now])
    }

    package static func checkpoint(_ db: Database, _ name: ProjectionName) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT checkpoint FROM projections WHERE name = ?"), arguments: [name.rawValue]) ?? 0
    }

    /// Moves a projection's checkpoint past a batch it applied; with `clearingError` (a log
    /// with the column, schema v7), forgets the failure it last had.
    package static func advance(_ db: Database, _ name: ProjectionName, to seq: Int64, applied: Int, now: Int64, clearingError: Bool) throws {
        try db.cachedStatement(sql: "UPDATE projections SET checkpoint = ?, applied = applied + ?, updated_at = ?\(clearingError ? ", last_error = NULL" : "") WHERE name = ?")
            .execute(arguments: [seq, applied, now, name.rawValue])
    }

    /// One step of a projection: its checkpoint and up to `limit` events after it (no further
    /// than `through(db, checkpoint)` says, when given) handed to `body` in the write
    /// transaction, and the checkpoint moved past them. What `body` writes and the checkpoint
    /// commit together, or not at all: exactly once. With a `lease`, refused
    /// (`projectionTakenOver`) unless it is still the projection's. Returns how many events it
    /// took. The two-phase step below with nothing to prepare.
    package func projectionStep(_ name: ProjectionName, lease: ProjectionLease? = nil, limit: Int,
                                through: (@Sendable (Database, Int64) throws -> Int64)? = nil,
                                _ body: @escaping @Sendable (Database, [ProjectedEvent]) throws -> Void) async throws(LedgerError) -> Int {
        try await projectionStep(name, lease: lease, limit: limit, through: through, prepare: { _, _ in },
                                 apply: { db, events, _ in try body(db, events) })
    }

    /// `projectionStep` in two parts, so that the writer is held only for the writes: `prepare`
    /// (decoding, folding states, making rows or items) runs first on a reader's snapshot, in
    /// parallel with whatever the writer does, with the same checkpoint and `through` as the
    /// write; `apply` then runs in the write transaction with what it made. When the write finds
    /// the checkpoint moved meanwhile (another process advanced it), or `through` lower than the
    /// batch (a dependency's item became pending again), `prepare` runs again in the write
    /// transaction on what is there. What `prepare` reads (receipts, say)
    /// is the reader's snapshot: the step's outcome is the one it would have had at that moment,
    /// as if it had run then. `read` gives the reader its events
    /// (after, through, limit; default `projectedEvents`), such as from what another projection
    /// just read. `restore` (in the write transaction, before the checkpoint is read) recreates
    /// the projection's tables when they were dropped; when it did, the checkpoint goes back to
    /// 0 first. Returns how many events it took.
    package func projectionStep<Prepared: Sendable>(_ name: ProjectionName, lease: ProjectionLease? = nil, limit: Int,
                                                    through: (@Sendable (Database, Int64) throws -> Int64)? = nil,
                                                    read: (@Sendable (Database, Int64, Int64, Int) throws -> [ProjectedEvent])? = nil,
                                                    restore: (@Sendable (Database) throws -> Bool)? = nil,
                                                    prepare: @escaping @Sendable (Database, [ProjectedEvent]) throws -> Prepared,
                                                    apply: @escaping @Sendable (Database, [ProjectedEvent], Prepared) throws -> Void)
        async throws(LedgerError) -> Int {
        let hasProjectionErrors = schemaVersion >= 7
        // Nothing read here counts: a failure (a log without the projection tables) is met
        // again, and reported, by the write.
        let early: (from: Int64, events: [ProjectedEvent], prepared: Prepared)? = try? await asyncRead { db in
            let from = try Ledger.checkpoint(db, name)
            let until = try through?(db, from) ?? .max
            let events = try (read ?? Ledger.projectedEvents)(db, from, until, limit)
            guard !events.isEmpty else { return nil }
            return (from, events, try prepare(db, events))
        }
        let now = configuration.clock().milliseconds
        do {
            return try await gatedWrite { db in
                if let lease { try Ledger.checkLease(db, lease) } else { try Ledger.ensureProjection(db, name, now: now) }
                // Its tables recreated (dropped behind the log's back): rebuilt from the start.
                if try restore?(db) == true {
                    try db.execute(sql: "UPDATE projections SET checkpoint = 0, applied = 0, updated_at = ? WHERE name = ?", arguments: [now, name.rawValue])
                }
                let from = try Ledger.checkpoint(db, name)
                let until = try through?(db, from) ?? .max
                let events: [ProjectedEvent], prepared: Prepared
                if let early, early.from == from, let last = early.events.last, last.seq <= until {
                    (events, prepared) = (early.events, early.prepared)
                } else {
                    events = try Ledger.projectedEvents(db, after: from, through: until, limit: limit)
                    guard !events.isEmpty else { return 0 }
                    prepared = try prepare(db, events)
                }
                try apply(db, events, prepared)
                try Ledger.advance(db, name, to: events[events.count - 1].seq, applied: events.count, now: now, clearingError: hasProjectionErrors)
                return events.count
            }
        } catch { throw map(error) }
    }

    /// Up to `limit` events after `after` and through `through`, in `seq` order: only the
    /// columns a projection needs (no hashes), decoded straight from the statement.
    package static func projectedEvents(_ db: Database, after: Int64, through: Int64, limit: Int) throws -> [ProjectedEvent] {
        var out: [ProjectedEvent] = []
        out.reserveCapacity(min(limit, 4096))
        let cursor = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT seq, job_id, version, type, payload, recorded_at FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"),
            arguments: [after, through, limit])
        while let row = try cursor.next() {
            let jobText: String = row[1], typeText: String = row[3], payloadText: String = row[4]
            let job: JobID
            let payload: EventPayload
            do {
                job = try JobID(jobText)
                payload = try EventPayload.decode(type: try EventType(name: typeText), text: payloadText, exactNumbers: false)
            } catch { throw LedgerError.invalidStoredEvent(seq: row[0], job: jobText, error) }
            out.append(ProjectedEvent(seq: row[0], job: job, version: row[2], payload: payload, recordedAt: Timestamp(milliseconds: row[5])))
        }
        return out
    }

    /// Sets a projection's checkpoint back to 0 after `clear` has emptied its rows, in one
    /// transaction: the next run rebuilds it from the log. (For state projections: resetting
    /// an effect projection would send everything again.)
    package func resetProjection(_ name: ProjectionName, clear: @escaping @Sendable (Database) throws -> Void) async throws(LedgerError) {
        let now = configuration.clock().milliseconds
        do {
            try await gatedWrite { db in
                try Ledger.ensureProjection(db, name, now: now)
                try clear(db)
                try db.execute(sql: "UPDATE projections SET checkpoint = 0, applied = 0, updated_at = ? WHERE name = ?", arguments: [now, name.rawValue])
            }
        } catch { throw map(error) }
    }

    /// A projection's checkpoint and the log's head, read together (0 for a projection that
    /// never ran, or a log older than the projection tables). `head - checkpoint` is how far
    /// behind it is.
    ///
    /// ```swift
    /// let (done, head) = try ledger.checkpoint(of: ProjectionName("webhook"))
    /// print("webhook is \(head - done) events behind")
    /// ```
    public func checkpoint(of name: ProjectionName) throws(LedgerError) -> (checkpoint: Int64, head: Int64) {
        guard hasProjections else { return (0, try head()?.seq ?? 0) }
        return try read { db in (try Ledger.checkpoint(db, name), try Ledger.fetchHead(db)?.seq ?? 0) }
    }

    // MARK: - Ownership

    /// Takes (or renews) the right to run `name` for `leaseMilliseconds`, unless another
    /// owner's lease is still running. Two processes on one log then never both deliver the
    /// same outbox. Returns the lease, or nil when another owner holds it.
    /// `replacing` names an owner known to be gone (a crashed process), whose lease is taken
    /// over at once. Each change of owner starts a new generation; the outbox writes of a
    /// holder check its generation, so a holder that was taken over writes nothing more.
    package func acquireProjection(_ name: ProjectionName, owner: String, now: Timestamp, leaseMilliseconds: Int64,
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
    package static func checkLease(_ db: Database, _ lease: ProjectionLease) throws {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT owner, generation FROM projections WHERE name = ?"),
                                   arguments: [lease.projection.rawValue])
        let owner: String? = row?[0], generation: Int64? = row?[1]
        guard owner == lease.owner, generation == lease.generation else {
            throw LedgerError.projectionTakenOver(projection: lease.projection.rawValue, owner: owner)
        }
    }

    /// The current owner of a projection, if any: the process (`<host>/<pid namespace>:<pid>`
    /// by default) whose `ProjectionRunner` holds its lease.
    public func projectionOwner(_ name: ProjectionName) throws(LedgerError) -> String? {
        guard hasProjections else { return nil }
        return try read { db in try String.fetchOne(db, sql: "SELECT owner FROM projections WHERE name = ?", arguments: [name.rawValue]) }
    }

    /// Gives up the right to run `name` (on shutdown), so another process can take over at once.
    package func releaseProjection(_ name: ProjectionName, owner: String) async {
        _ = try? await gatedWrite { db in
            try db.execute(sql: "UPDATE projections SET owner = NULL, lease_until = NULL WHERE name = ? AND owner = ?",
                           arguments: [name.rawValue, owner])
        }
    }

    // MARK: - Standing

    /// The standing of the projections named (in that order), then of any other projection
    /// the log has a checkpoint or outbox items for (by name): what `jobledger projections`
    /// prints. Works on a read-only ledger.
    ///
    /// ```swift
    /// import JobLedgerProjections   // the built-in names .jobs, .blob and .broadcast
    ///
    /// for s in try ledger.projectionStatus([.jobs, .blob, .broadcast]) {
    ///     print(s.name, "lag \(s.lag)", "pending \(s.pending)", "dead \(s.dead)", s.lastError ?? "")
    /// }
    /// ```
    ///
    /// (`.jobs`, `.blob` and `.broadcast` are declared in JobLedgerProjections.)
    public func projectionStatus(_ names: [ProjectionName] = []) throws(LedgerError) -> [ProjectionStatus] {
        guard hasProjections else {
            let head = try self.head()?.seq ?? 0
            return names.map { ProjectionStatus(name: $0, checkpoint: 0, head: head, applied: 0, pending: 0, dead: 0, sent: 0, coalesced: 0) }
        }
        return try read { db in
            let head = try Ledger.fetchHead(db)?.seq ?? 0
            let stored = try String.fetchAll(db, sql: "SELECT name FROM projections UNION SELECT DISTINCT projection FROM outbox ORDER BY 1")
                .compactMap(ProjectionName.init(rawValue:))
            // A projection's own failure (schema v7 on), else its outbox's latest.
            let ownError = schemaVersion >= 7 ? "last_error" : "NULL"
            return try (names + stored.filter { !names.contains($0) }).map { name in
                let p = try Row.fetchOne(db, sql: "SELECT checkpoint, applied, owner, lease_until, \(ownError) FROM projections WHERE name = ?", arguments: [name.rawValue])
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
                let own: String? = p?[4]
                s.lastError = try own ?? String.fetchOne(db, sql: """
                    SELECT last_error FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status IN ('pending', 'dead') AND attempts > 0 AND last_error IS NOT NULL
                    ORDER BY seq DESC LIMIT 1
                    """, arguments: [name.rawValue])
                return s
            }
        }
    }
}

extension Ledger {
    /// Writes a compact copy of the whole database (events, assets, projections) to a new file:
    /// a consistent snapshot to hand to someone investigating an incident. Refuses a path that
    /// exists.
    ///
    /// ```swift
    /// try await ledger.vacuum(into: "incident-copy.sqlite")
    /// ```
    public func vacuum(into path: String) async throws(LedgerError) {
        guard !FileManager.default.fileExists(atPath: path) else { throw .storage("\(path) already exists") }
        do {
            try await gatedWriteWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        } catch { throw map(error) }
    }

    /// Runs `body` in one read snapshot of the log (for projections that read their own
    /// tables; see `Database`).
    package func readSnapshot<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T { try read(body) }

    /// Runs `body` in one write transaction, counted by the write gate.
    package func writeTransaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(LedgerError) -> T {
        do { return try await gatedWrite(body) } catch { throw map(error) }
    }
}
