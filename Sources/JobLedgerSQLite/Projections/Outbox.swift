import Foundation
import GRDB
import JobLedger

/// The outbox: what effect projections owe the outside world, one row per (projection, event),
/// delivered in `seq` order with retries, backoff, dead letters and re-drive. The rows are
/// written by `projectionStep`'s body (`insertOutbox`) together with the checkpoint; what an
/// item means is the projection's business.
extension Ledger {
    /// Puts one item in a projection's outbox for event `e` (ignored when the projection already
    /// holds one for that event). With `coalescing`, the job's earlier supersedable items still
    /// pending are coalesced by it.
    /// `sent`: the item is delivered as it is taken in (`EffectProjection.deliversAsTakenIn`),
    /// so it is stored as sent, by its one try, and supersedes nothing. Returns whether a row
    /// was stored (not when the projection already holds an item for that event).
    @discardableResult
    package static func insertOutbox(_ db: Database, _ name: ProjectionName, event e: ProjectedEvent, draft: OutboxDraft,
                                      coalescing: Bool, now: Int64, sent: Bool = false) throws -> Bool {
        if coalescing && !sent { try supersede(db, name, job: e.job, before: e.seq) }
        let b = DirectBinding(try db.cachedStatement(sql: sent ? """
            INSERT OR IGNORE INTO outbox (projection, seq, job_id, version, type, target, body, supersedable, next_attempt_at, created_at,
                                          status, attempts, sent_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'sent', 1, ?10)
            """ : """
            INSERT OR IGNORE INTO outbox (projection, seq, job_id, version, type, target, body, supersedable, next_attempt_at, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        b.text(1, name.rawValue)
        b.int(2, e.seq)
        b.text(3, e.job.rawValue)
        b.int(4, Int64(e.version))
        b.text(5, e.type.rawValue)
        b.text(6, draft.target)
        b.text(7, draft.body)
        b.int(8, draft.supersedable ? 1 : 0)
        b.int(9, now)
        b.int(10, now)
        try b.run(db)
        return db.changesCount == 1
    }

    /// Whether the projection's outbox holds an item still to deliver (what a projection that
    /// delivers as it takes in must deliver first, in order, before it hands anything over).
    package static func hasPendingOutbox(_ db: Database, _ name: ProjectionName) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status = 'pending' LIMIT 1"),
                          arguments: [name.rawValue]) ?? false
    }

    private static func supersede(_ db: Database, _ name: ProjectionName, job: JobID, before seq: Int64) throws {
        let supersede = DirectBinding(try db.cachedStatement(sql: """
            UPDATE outbox INDEXED BY outbox_by_job SET status = 'coalesced'
            WHERE projection = ? AND job_id = ? AND status = 'pending' AND supersedable = 1 AND seq < ?
            """))
        supersede.text(1, name.rawValue)
        supersede.text(2, job.rawValue)
        supersede.int(3, seq)
        try supersede.run(db)
    }

    /// The last `seq` through which `dependency` has delivered (or given up on) everything a
    /// projection that waits for it may take in: its checkpoint, or just before its oldest
    /// pending item after `after` (the waiting projection's own checkpoint). An old re-driven
    /// item before `after` holds back no one.
    package static func frontier(_ db: Database, of dependency: ProjectionName, after: Int64) throws -> Int64 {
        let checkpoint = try Ledger.checkpoint(db, dependency)
        let pending = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT min(seq) FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status = 'pending' AND seq > ?"),
            arguments: [dependency.rawValue, after])
        return pending.map { min(checkpoint, $0 - 1) } ?? checkpoint
    }

    /// The oldest pending items of a projection's outbox, in `seq` order, if they are due.
    /// Items are delivered strictly in order: a backing-off item holds back those after it.
    /// Read on the writer's connection: its page cache is warm with the outbox it just wrote
    /// (a reader's would be re-read from the file after every commit).
    package func dueItems(_ name: ProjectionName, now: Timestamp, limit: Int) async throws(LedgerError) -> DueItems {
        do {
            return try await gatedWriteWithoutTransaction { db in
                let items = try Row.fetchAll(
                    // Without INDEXED BY, SQLite walks the primary key (projection, seq) through every
                    // row already sent: quadratic over a long outbox.
                    db.cachedStatement(sql: "SELECT \(OutboxItem.columns) FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status = 'pending' ORDER BY seq LIMIT ?"),
                    arguments: [name.rawValue, limit]).map(OutboxItem.init(row:))
                guard let first = items.first else { return .none }
                if first.nextAttemptAt > now { return .notBefore(first.nextAttemptAt) }
                return .due(Array(items.prefix { $0.nextAttemptAt <= now }))
            }
        } catch { throw map(error) }
    }

    /// Records items as delivered, with `alsoRecord` (what the projection keeps of a delivery,
    /// such as a published URL) in the same transaction. Refused with `projectionTakenOver`,
    /// recording nothing, when `lease` is no longer the projection's (another owner took it
    /// over and delivers these items itself).
    package func markSent(_ items: [OutboxItem], lease: ProjectionLease, at now: Timestamp,
                         alsoRecord: (@Sendable (Database) throws -> Void)? = nil) async throws(LedgerError) {
        guard let name = items.first?.projection else { return }
        do {
            try await gatedWrite { db in
                try Ledger.checkLease(db, lease)
                let sent = try db.cachedStatement(sql: "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE projection = ? AND seq = ?")
                for item in items {
                    let b = DirectBinding(sent)
                    b.int(1, now.milliseconds)
                    b.text(2, name.rawValue)
                    b.int(3, item.seq)
                    try b.run(db)
                }
                try alsoRecord?(db)
            }
        } catch { throw map(error) }
        appended.signal()  // projections that wait for this one may go on
    }

    /// Records a failed delivery of `items`. Items that have had `maxAttempts` tries, or that
    /// the sink rejected, become dead letters; the others are tried again at `retryAt`.
    /// Returns how many became dead. Refused like `markSent` when `lease` is no longer current.
    @discardableResult
    package func markFailed(_ items: [OutboxItem], lease: ProjectionLease, error: SinkError, at now: Timestamp, retryAt: Timestamp,
                           maxAttempts: Int) async throws(LedgerError) -> Int {
        guard let name = items.first?.projection else { return 0 }
        let message = String(error.description.prefix(500))
        let permanent: Bool
        if case .rejected = error { permanent = true } else { permanent = false }
        do {
            return try await gatedWrite { db in
                try Ledger.checkLease(db, lease)
                var dead = 0
                for item in items {
                    let attempts = item.attempts + 1
                    let isDead = permanent || attempts >= maxAttempts
                    if isDead { dead += 1 }
                    try db.execute(sql: "UPDATE outbox SET attempts = ?, status = ?, next_attempt_at = ?, last_error = ? WHERE projection = ? AND seq = ? AND status = 'pending'",
                                   arguments: [attempts, isDead ? "dead" : "pending", retryAt.milliseconds, message, name.rawValue, item.seq])
                }
                return dead
            }
        } catch { throw map(error) }
    }

    /// Puts a projection's dead letters back in line, due now, with their tries reset. A dead
    /// supersedable item (a progress message) that a later item of its job has superseded is
    /// coalesced instead: a browser never gets progress after a newer state. Returns how many
    /// were re-driven. What `jobledger projections retry NAME` runs; the running projection (in
    /// this process or another) then delivers them.
    ///
    /// ```swift
    /// import JobLedgerProjections   // the built-in name .broadcast
    ///
    /// let n = try await ledger.redrive(.broadcast)     // after fixing the sink's configuration
    /// ```
    public func redrive(_ name: ProjectionName) async throws(LedgerError) -> Int {
        try await redriveCounting(name).requeued
    }

    /// `redrive(_:)`, saying also how many dead items were superseded (coalesced, not re-driven).
    public func redriveCounting(_ name: ProjectionName) async throws(LedgerError) -> (requeued: Int, superseded: Int) {
        let now = configuration.clock().milliseconds
        do {
            let n = try await gatedWrite { db in
                try db.execute(sql: """
                    UPDATE outbox INDEXED BY outbox_by_status SET status = 'coalesced'
                    WHERE projection = ? AND status = 'dead' AND supersedable = 1
                      AND EXISTS (SELECT 1 FROM outbox AS later INDEXED BY outbox_by_job WHERE later.projection = outbox.projection
                                  AND later.job_id = outbox.job_id AND later.seq > outbox.seq)
                    """, arguments: [name.rawValue])
                let superseded = db.changesCount
                try db.execute(sql: "UPDATE outbox INDEXED BY outbox_by_status SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE projection = ? AND status = 'dead'",
                               arguments: [now, name.rawValue])
                return (requeued: db.changesCount, superseded: superseded)
            }
            appended.signal()
            return n
        } catch { throw map(error) }
    }

    /// The highest `seq` among a projection's outbox items of `status`, 0 when there are none.
    public func lastOutboxSeq(_ name: ProjectionName, status: OutboxItem.Status) throws(LedgerError) -> Int64 {
        guard hasProjections else { return 0 }
        return try read { db in
            try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outbox WHERE projection = ? AND status = ?", arguments: [name.rawValue, status.rawValue]) ?? 0
        }
    }

    /// The highest `seq` among a projection's outbox items, whatever their status; 0 when
    /// there are none.
    public func lastOutboxSeq(_ name: ProjectionName) throws(LedgerError) -> Int64 {
        guard hasProjections else { return 0 }
        return try read { db in
            try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outbox WHERE projection = ?", arguments: [name.rawValue]) ?? 0
        }
    }

    /// Each job's newest item that was not coalesced into a later one, in one read: for a
    /// broadcast projection, the jobs' latest messages as their subscribers were sent them. A
    /// job with none is left out.
    package func latestOutboxItems(_ name: ProjectionName, jobs: [JobID]) throws(LedgerError) -> [JobID: OutboxItem] {
        guard hasProjections else { return [:] }
        return try read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT \(OutboxItem.columns) FROM outbox INDEXED BY outbox_by_job
                WHERE projection = ? AND job_id = ? AND status != ? ORDER BY seq DESC LIMIT 1
                """)
            var out: [JobID: OutboxItem] = [:]
            for job in jobs {
                if let row = try Row.fetchOne(statement, arguments: [name.rawValue, job.rawValue, OutboxItem.Status.coalesced.rawValue]) {
                    out[job] = try OutboxItem(row: row)
                }
            }
            return out
        }
    }

    /// Outbox items of a projection after `seq`, in `seq` order, optionally of one status and job:
    /// what `jobledger tail` prints (the `sent` broadcast items).
    ///
    /// ```swift
    /// import JobLedgerProjections   // the built-in name .broadcast
    ///
    /// for item in try ledger.outboxItems(.broadcast, status: .dead) {
    ///     print(item.seq, item.target, item.lastError ?? "")
    /// }
    /// ```
    public func outboxItems(_ name: ProjectionName, after seq: Int64 = 0, status: OutboxItem.Status? = nil,
                            job: JobID? = nil, limit: Int = 1000) throws(LedgerError) -> [OutboxItem] {
        guard hasProjections else { return [] }
        return try read { db in
            // One job's items are found through the job index, not by walking every seq.
            var sql = "SELECT \(OutboxItem.columns) FROM outbox\(job == nil ? "" : " INDEXED BY outbox_by_job") WHERE projection = ? AND seq > ?"
            var args: StatementArguments = [name.rawValue, seq]
            if let status { sql += " AND status = ?"; args += [status.rawValue] }
            if let job { sql += " AND job_id = ?"; args += [job.rawValue] }
            return try Row.fetchAll(db, sql: sql + " ORDER BY seq LIMIT ?", arguments: args + [limit]).map(OutboxItem.init(row:))
        }
    }
}
