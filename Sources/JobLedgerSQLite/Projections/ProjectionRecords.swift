import Foundation
import GRDB
import JobLedger

/// The right to run an effect projection for a while, as `Ledger.acquireProjection` grants
/// it: who holds it, in which generation (a new one with each change of owner), until when.
package struct ProjectionLease: Sendable, Hashable {
    package var projection: ProjectionName
    package var owner: String
    package var generation: Int64
    package var until: Timestamp
}

/// Where a projection stands: how far it has read the log and what it still owes. One row of
/// `jobledger projections`; read with `Ledger.projectionStatus(_:)`.
public struct ProjectionStatus: Sendable, Hashable {
    /// The projection.
    public var name: ProjectionName
    /// The last `seq` the projection has taken in (applied, or put in its outbox).
    public var checkpoint: Int64
    /// The log's last `seq`.
    public var head: Int64
    /// Events the projection has applied (a state projection) or taken in (an effect one).
    public var applied: Int64
    /// Outbox items not delivered yet (new, or backing off after a failed try).
    public var pending: Int
    /// Dead letters: items that failed their last try, or that the sink rejected.
    public var dead: Int
    /// Items delivered.
    public var sent: Int
    /// Items superseded by a later item of their job before they were sent (never sent).
    public var coalesced: Int
    /// When the oldest pending item is next tried.
    public var nextAttemptAt: Timestamp?
    /// Why the projection's own code last failed (a state projection's `apply` threw; cleared
    /// once a batch applies), else the most recent error of a pending or dead item.
    public var lastError: String?
    /// The process holding the projection's lease (an effect projection), if any.
    public var owner: String?
    /// True when the projection has an outbox (items in it, or an owner): an effect projection.
    public var hasOutbox: Bool { pending + dead + sent + coalesced > 0 || owner != nil }

    /// Events behind the log's head.
    public var lag: Int64 { max(0, head - checkpoint) }
}

/// What an effect projection asks the outbox to deliver for one event.
public struct OutboxDraft: Sendable, Hashable {
    /// Where it goes: a stream, a blob pathname, a URL …
    public var target: String
    /// What goes there (text, usually JSON).
    public var body: String
    /// A later item of the same job supersedes this one while it is still pending (it is
    /// then `coalesced`, never sent): for messages where only the latest matters, such as
    /// progress. Order within a job is kept either way.
    public var supersedable: Bool

    /// An item for `target` with `body`; `supersedable` for messages where only the latest
    /// counts.
    public init(target: String, body: String, supersedable: Bool = false) {
        self.target = target
        self.body = body
        self.supersedable = supersedable
    }
}

/// One effect waiting in (or done from) a projection's outbox: one per event at most. What an
/// `EffectProjection`'s `deliver` is handed, and what `Ledger.outboxItems(_:after:status:job:limit:)`
/// lists.
public struct OutboxItem: Sendable, Hashable {
    /// Where an item is in its life.
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// Not delivered yet: due at `nextAttemptAt`.
        case pending
        /// Delivered.
        case sent
        /// Given up on (tries used up, or rejected); `Ledger.redrive(_:)` puts it back in line.
        case dead
        /// Superseded by a later item of its job before it was sent; never sent.
        case coalesced
    }
    /// The projection that owes it.
    public var projection: ProjectionName
    /// The event it was made for (unique within the projection).
    public var seq: Int64
    /// The event's job.
    public var job: JobID
    /// The event's version within its job.
    public var version: Int
    /// The event's type.
    public var type: EventType
    /// Where it goes (a stream, a blob pathname …).
    public var target: String
    /// What goes there.
    public var body: String
    /// Where it is in its life.
    public var status: Status
    /// Tries so far (the delivery that succeeded included).
    public var attempts: Int
    /// When it is due (next); items are delivered in `seq` order, so a later item waits too.
    public var nextAttemptAt: Timestamp
    /// The error of its last failed try, if any (at most 500 characters).
    public var lastError: String?
    /// When it was delivered, once it was.
    public var sentAt: Timestamp?

    static let columns = "projection, seq, job_id, version, type, target, body, status, attempts, next_attempt_at, last_error, sent_at"

    /// An item as stored by `Ledger.insertOutbox(…, sent: true)`: sent when it was taken in.
    package init(sent draft: OutboxDraft, of event: ProjectedEvent, projection: ProjectionName, at now: Timestamp) {
        self.projection = projection
        seq = event.seq
        job = event.job
        version = event.version
        type = event.type
        target = draft.target
        body = draft.body
        status = .sent
        attempts = 1
        nextAttemptAt = now
        lastError = nil
        sentAt = now
    }

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
}

/// What a projection's outbox has to deliver now.
package enum DueItems: Sendable, Hashable {
    /// Nothing pending.
    case none
    /// The oldest pending item may not be tried before this time (it is backing off).
    case notBefore(Timestamp)
    /// The oldest pending items, in `seq` order, due now.
    case due([OutboxItem])
}
