import Foundation
import GRDB
import JobLedger

/// Where a replay stops: the whole log, a `seq`, or a moment (state *as of* then).
///
/// ```swift
/// import JobLedgerProjections   // ReplayFold and Ledger.replay(into:until:)
///
/// let point = ReplayPoint("2026-11-18T11:07:05Z")!      // or ReplayPoint("40"), or .end
/// var fold = ReplayFold()
/// _ = try ledger.replay(into: &fold, until: point)
/// ```
public enum ReplayPoint: Sendable, Hashable, CustomStringConvertible {
    /// The whole log.
    case end
    /// Up to and including this `seq`.
    case seq(Int64)
    /// Up to the last event recorded at or before this time (the log's prefix: a replay
    /// stops at the first event recorded later).
    case time(Timestamp)

    /// Parses a `seq` (a whole number) or a time (ISO-8601 UTC).
    public init?(_ text: String) {
        if let n = Int64(text), n >= 0 { self = .seq(n); return }
        if let t = Timestamp(parsing: text), text.contains("T") || text.contains("-") { self = .time(t); return }
        return nil
    }

    /// `the end of the log`, `seq N`, or the time in ISO-8601.
    public var description: String {
        switch self {
        case .end: "the end of the log"
        case .seq(let s): "seq \(s)"
        case .time(let t): t.iso8601
        }
    }

    func includes(seq: Int64, at time: Timestamp) -> Bool {
        switch self {
        case .end: true
        case .seq(let s): seq <= s
        case .time(let t): time <= t
        }
    }
}

/// What a replay went through.
public struct ReplaySummary: Sendable, Hashable {
    /// Events replayed.
    public var events = 0
    /// The last `seq` replayed (0 when none was).
    public var lastSeq: Int64 = 0
    /// When the last event replayed was recorded.
    public var lastTime: Timestamp?
}

extension Ledger {
    /// Calls `body` with every event (or one job's) in order up to `point`, from one snapshot,
    /// in constant memory, and `progress` every 4,096 events with the events so far. What
    /// the replay tool folds projections from. To rebuild the projections themselves, use
    /// `replay(into:until:job:progress:effect:)` (JobLedgerProjections).
    ///
    /// ```swift
    /// // What did job J look like at seq 40?
    /// var state: JobState?
    /// _ = try ledger.replayEvents(until: .seq(40), job: j) { e in
    ///     state = try Lifecycle.apply(e.payload, to: state, job: e.job, at: e.recordedAt)
    /// }
    /// ```
    public func replayEvents(until point: ReplayPoint = .end, job: JobID? = nil, progress: (Int) -> Void = { _ in },
                             _ body: (StoredEvent) throws -> Void) throws(LedgerError) -> ReplaySummary {
        try read { db in try Ledger.replayEvents(db, until: point, job: job, progress: progress, body) }
    }

    /// `replayEvents` inside a read the caller already holds (to read other tables in the same
    /// snapshot).
    package static func replayEvents(_ db: Database, until point: ReplayPoint, job: JobID?, progress: (Int) -> Void,
                                     _ body: (StoredEvent) throws -> Void) throws -> ReplaySummary {
        var summary = ReplaySummary()
        var point = point
        if job != nil, case .time(let t) = point {
            // The log's prefix, as the whole log's replay stops: at the first event recorded
            // later than `t`. One job's events alone cannot tell: an event of its recorded at or
            // before `t` may come after another job's later one (a clock stepped back).
            let later = try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE recorded_at > ? ORDER BY seq LIMIT 1", arguments: [t.milliseconds])
            point = later.map { .seq($0 - 1) } ?? .end
        }
        let cursor: RowCursor
        if let job {
            cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events WHERE job_id = ? ORDER BY version", arguments: [job.rawValue])
        } else {
            cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events ORDER BY seq")
        }
        while let row = try cursor.next() {
            let e = try RawEvent(row: row).decoded()
            guard point.includes(seq: e.seq, at: e.recordedAt) else { break }
            try body(e)
            summary.events += 1
            summary.lastSeq = e.seq
            summary.lastTime = e.recordedAt
            if summary.events & 0xFFF == 0 { progress(summary.events) }
        }
        return summary
    }

    /// How many events a replay of the whole log up to `point` reads (for a progress bar): up to
    /// the `seq`, or up to the first event recorded later than the time (a scan of the log's
    /// prefix for a time).
    package func eventsReplayed(until point: ReplayPoint) throws(LedgerError) -> Int {
        let count = try eventCount()
        switch point {
        case .end:
            return count
        case .seq(let n):
            return min(count, Int(clamping: n))
        case .time(let t):
            let later = try read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE recorded_at > ? ORDER BY seq LIMIT 1", arguments: [t.milliseconds])
            }
            return later.map { min(count, Int(clamping: $0 - 1)) } ?? count
        }
    }

    /// The event at `seq`'s time, to turn a `seq` into the moment it was recorded.
    public func recordedAt(seq: Int64) throws(LedgerError) -> Timestamp? {
        try read { db in try Int64.fetchOne(db, sql: "SELECT recorded_at FROM events WHERE seq = ?", arguments: [seq]).map(Timestamp.init(milliseconds:)) }
    }
}
