import GRDB
import JobLedger

/// What a metrics scrape shows of one projection: how far behind the log it is and what its
/// outbox still owes. The cheap part of `ProjectionStatus`: no count of the sent items, which
/// grow with the log (a million-event log's broadcast outbox holds about a million).
public struct ProjectionGauge: Sendable, Hashable {
    /// The projection.
    public var name: ProjectionName
    /// Events in the log it has not applied or taken in yet (`head - checkpoint`).
    public var lag: Int64
    /// Outbox items not delivered yet (new, or backing off after a failed try).
    public var pending: Int
    /// Dead letters: items that failed their last try, or that the sink rejected.
    public var dead: Int
    /// The process holding the projection's lease (an effect projection), if any.
    public var owner: String? = nil
}

extension Ledger {
    /// Every projection the log knows (its checkpoint row, or items in the outbox) and those of
    /// `running` (a runner's, which may not have taken anything in yet: the whole log is its
    /// lag), with its lag and its pending and dead items, in name order; counted on the
    /// outbox's status index, so a scrape costs what is owed, not what was sent. Without
    /// `countingOutbox`, the lags only (pending and dead left 0): what a readiness probe needs.
    ///
    /// ```swift
    /// for g in try ledger.projectionGauges() where g.lag > 10_000 { print("\(g.name) is \(g.lag) events behind") }
    /// ```
    public func projectionGauges(running: [ProjectionName] = [], countingOutbox: Bool = true) throws(LedgerError) -> [ProjectionGauge] {
        guard hasProjections else {
            let head = try self.head()?.seq ?? 0
            return running.sorted().map { ProjectionGauge(name: $0, lag: head, pending: 0, dead: 0) }
        }
        return try read { db in
            let head = try Ledger.fetchHead(db)?.seq ?? 0
            // The outbox's names from its primary key, one seek per name (DISTINCT would scan it).
            var names = Set(try String.fetchAll(db, sql: "SELECT name FROM projections") + running.map(\.rawValue))
            var after = ""
            while let next = try String.fetchOne(db, sql: "SELECT projection FROM outbox WHERE projection > ? ORDER BY projection LIMIT 1", arguments: [after]) {
                names.insert(next)
                after = next
            }
            let count = try db.cachedStatement(sql: "SELECT count(*) FROM outbox INDEXED BY outbox_by_status WHERE projection = ? AND status = ?")
            return try names.sorted().compactMap(ProjectionName.init(rawValue:)).map { name in
                let row = try Row.fetchOne(db, sql: "SELECT checkpoint, owner FROM projections WHERE name = ?", arguments: [name.rawValue])
                let checkpoint: Int64 = row?[0] ?? 0
                let pending = countingOutbox ? try Int.fetchOne(count, arguments: [name.rawValue, "pending"]) ?? 0 : 0
                let dead = countingOutbox ? try Int.fetchOne(count, arguments: [name.rawValue, "dead"]) ?? 0 : 0
                return ProjectionGauge(name: name, lag: max(0, head - checkpoint), pending: pending, dead: dead, owner: row?[1])
            }
        }
    }
}
