import Foundation
import GRDB
import JobLedger

extension Ledger {
    /// Takes up to `limit` events after the effect projection's checkpoint into its outbox
    /// (one item per event that has an effect) and moves the checkpoint, in one transaction.
    /// The broadcast projection stops before the first event whose upload is still pending
    /// when `waitForUploads` is set, so its messages carry the published URLs.
    /// Returns how many events it took in.
    public func ingest(_ name: ProjectionName, lease: ProjectionLease, limit: Int, streams: StreamNaming, coalesceProgress: Bool,
                waitForUploads: Bool, cache: StateCache) async throws(LedgerError) -> Int {
        precondition(name.isEffect)
        let now = configuration.clock().milliseconds
        do {
            return try await gatedWrite { db in
                try Ledger.checkLease(db, lease)
                let from = try Ledger.checkpoint(db, name)
                var until = Int64.max
                if name == .broadcast && waitForUploads { until = try Ledger.blobFrontier(db) }
                let events = try Ledger.projectionInput(db, after: from, through: until, limit: limit)
                guard let last = events.last else { return 0 }
                let insert = try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO outbox (projection, seq, job_id, version, type, target, body, next_attempt_at, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let coalesce = try db.cachedStatement(sql: """
                    UPDATE outbox SET status = 'coalesced'
                    WHERE projection = 'broadcast' AND job_id = ? AND status = 'pending' AND type = 'progress' AND seq < ?
                    """)
                for e in events {
                    switch name {
                    case .blob:
                        guard let (role, asset) = e.payload.publishedAsset else { continue }
                        let path = BlobPathname(job: e.job, role: role, asset: asset)
                        try Ledger.insertOutbox(insert, db: db, name: name, event: e, target: path.description, body: asset.jsonText, now: now)
                    case .broadcast:
                        let before = try cache.before(e.job, version: e.version, db: db)
                        let after = try Lifecycle.apply(e.payload, to: before, job: e.job, at: e.recordedAt)
                        cache.remember(after)
                        let (_, effects) = ReplayFold.project(seq: e.seq, payload: e.payload, state: after, streams: streams) {
                            try? Ledger.blobURL(db, pathname: $0.description)
                        }
                        for case .broadcast(_, let pub) in effects {
                            if coalesceProgress {
                                let b = DirectBinding(coalesce)
                                b.text(1, e.job.rawValue)
                                b.int(2, e.seq)
                                try b.run(db)
                            }
                            try Ledger.insertOutbox(insert, db: db, name: name, event: e, target: pub.stream, body: pub.message.text, now: now)
                        }
                    case .jobs:
                        break
                    }
                }
                try Ledger.advance(db, name, to: last.seq, applied: events.count, now: now)
                return events.count
            }
        } catch { throw map(error) }
    }

    static func insertOutbox(_ insert: Statement, db: Database, name: ProjectionName, event e: ProjectionInput,
                             target: String, body: String, now: Int64) throws {
        let b = DirectBinding(insert)
        b.text(1, name.rawValue)
        b.int(2, e.seq)
        b.text(3, e.job.rawValue)
        b.int(4, Int64(e.version))
        b.text(5, e.type.rawValue)
        b.text(6, target)
        b.text(7, body)
        b.int(8, now)
        b.int(9, now)
        try b.run(db)
    }

    /// The last `seq` through which every upload has been published (or given up on): the
    /// broadcast projection may take in events up to here.
    /// Only uploads after the broadcast's own checkpoint count: a re-driven old upload (whose
    /// message went out long ago, with a null URL) holds back no one.
    static func blobFrontier(_ db: Database) throws -> Int64 {
        let checkpoint = try Ledger.checkpoint(db, .blob)
        let from = try Ledger.checkpoint(db, .broadcast)
        let pending = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT min(seq) FROM outbox INDEXED BY outbox_by_status WHERE projection = 'blob' AND status = 'pending' AND seq > ?"),
            arguments: [from])
        return pending.map { min(checkpoint, $0 - 1) } ?? checkpoint
    }

    /// The oldest pending items of a projection's outbox, in `seq` order, if they are due.
    /// Items are delivered strictly in order: a backing-off item holds back those after it.
    /// Read on the writer's connection: its page cache is warm with the outbox it just wrote
    /// (a reader's would be re-read from the file after every commit).
    public func dueItems(_ name: ProjectionName, now: Timestamp, limit: Int) async throws(LedgerError) -> DueItems {
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

    /// Records items as delivered. For the blob projection, `published` gives each upload's
    /// blob, recorded (with the URL in the `jobs` table) in the same transaction.
    /// Refused with `projectionTakenOver`, recording nothing, when `lease` is no longer the
    /// projection's (another owner took it over and delivers these items itself).
    public func markSent(_ items: [OutboxItem], lease: ProjectionLease, at now: Timestamp, published: [Int64: BlobInfo] = [:]) async throws(LedgerError) {
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
                    guard let blob = published[item.seq], let asset = item.asset else { continue }
                    let role = item.type == .lowres ? BlobPathname.Role.lowres : .final
                    try db.execute(sql: "INSERT OR REPLACE INTO blobs (pathname, job_id, role, sha256, url, seq, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   arguments: [item.target, item.job.rawValue, role.rawValue, asset.sha256, blob.url, item.seq, now.milliseconds])
                    let column = role == .lowres ? "preview" : "result"
                    try db.execute(sql: "UPDATE jobs SET \(column)_url = ? WHERE id = ? AND \(column)_sha256 = ?",
                                   arguments: [blob.url, item.job.rawValue, asset.sha256])
                }
            }
        } catch { throw map(error) }
        appended.signal()  // the broadcast projection may be waiting for these uploads
    }

    /// Records a failed delivery of `items`. Items that have had `maxAttempts` tries, or that
    /// the sink rejected, become dead letters; the others are tried again at `retryAt`.
    /// Returns how many became dead. Refused like `markSent` when `lease` is no longer current.
    @discardableResult
    public func markFailed(_ items: [OutboxItem], lease: ProjectionLease, error: SinkError, at now: Timestamp, retryAt: Timestamp,
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

    /// Puts a projection's dead letters back in line, due now, with their tries reset.
    /// A dead progress message that a later message of its job has superseded is coalesced
    /// instead: a browser never gets progress after a newer state. Returns how many were
    /// re-driven.
    public func redrive(_ name: ProjectionName) async throws(LedgerError) -> Int {
        let now = configuration.clock().milliseconds
        do {
            let n = try await gatedWrite { db in
                if name == .broadcast {
                    try db.execute(sql: """
                        UPDATE outbox INDEXED BY outbox_by_status SET status = 'coalesced'
                        WHERE projection = 'broadcast' AND status = 'dead' AND type = 'progress'
                          AND EXISTS (SELECT 1 FROM outbox AS later INDEXED BY outbox_by_job WHERE later.projection = 'broadcast'
                                      AND later.job_id = outbox.job_id AND later.seq > outbox.seq)
                        """)
                }
                try db.execute(sql: "UPDATE outbox INDEXED BY outbox_by_status SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE projection = ? AND status = 'dead'",
                               arguments: [now, name.rawValue])
                return db.changesCount
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

    /// Outbox items of a projection after `seq`, in `seq` order, optionally of one status and job.
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

extension AssetRef {
    var jsonText: String {
        JSONValue.object(["sha256": .string(sha256), "size": .int(size), "content_type": .string(contentType)]).canonicalText
    }
}
