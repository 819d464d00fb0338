import Hummingbird
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging

/// Which part of a job's history `GET /api/jobs/{id}/events` answers with: the events after
/// seq `after` (0: from the first), at most `limit` of them (nil: all). Without `limit` the
/// answer is the whole rest of the history, as it always was, so a client written before the
/// parameters came sees no change; a page walks on with `next_after`. A watching client asks
/// for `after=<the last seq it has>` and gets only what is new, instead of the whole history
/// again on every update (a job of 30,000 events is 14.5 MB).
struct HistoryPage: Sendable, Equatable {
    /// The most events one page may ask for.
    static let maxLimit = 1000

    var after: Int64 = 0
    var limit: Int?

    init(after: Int64 = 0, limit: Int? = nil) {
        self.after = after
        self.limit = limit
    }

    /// The page a request asks for; a value that is not digits, digits past what a seq can be,
    /// or a limit outside 1…`maxLimit`, is a 422 naming the parameter and which it is (as is
    /// either given twice). Digits too many for a seq were said to be "not digits".
    init(_ request: Request) throws(Problem) {
        if let a = try JobLedgerServer.queryValue("after", in: request) {
            guard JobLedgerServer.isDigits(a) else {
                throw Problem.invalid("after", "after must be a seq, digits only (the seq of the last event you have, or next_after)")
            }
            guard let n = Int64(a) else {
                throw Problem.invalid("after", "after '\(Problem.quoted(a))' is out of range: a seq is at most \(Int64.max) (the seq of the last event you have, or next_after)")
            }
            after = n
        }
        if let l = try JobLedgerServer.queryValue("limit", in: request) {
            guard JobLedgerServer.isDigits(l) else {
                throw Problem.invalid("limit", "limit must be a whole number 1…\(Self.maxLimit), digits only (leave it out for every event)")
            }
            guard let n = Int64(l), (1...Int64(Self.maxLimit)).contains(n) else {
                throw Problem.invalid("limit", "limit '\(Problem.quoted(l))' is out of range: it must be 1…\(Self.maxLimit) (leave it out for every event)")
            }
            limit = Int(n)
        }
    }
}

extension JobLedgerServer {
    /// The events of a job after `page.after` (at most `page.limit`), each with its hash, whether
    /// the chain verifies up to it, the state after it, what changed, and the broadcast message
    /// the browser was sent for it (the time-travel view reads this); `next_after` is the seq to
    /// ask after for the rest, null when nothing remains.
    ///
    /// A page starting mid-history is the same events as in the whole history: the state, the
    /// change and the time since the previous event are folded from the job's first event on
    /// (the events before the page are read but not sent; or resumed where a page read before
    /// ended, `HistoryResume`), and `chain_verified` is a matter of seq against the log's verdict
    /// (`verified_through`), whatever page the event is on. The reading stops at the page's end.
    /// A break (or removed rules) this verification is first to find is logged in `logger` at once.
    func history(of id: JobID, page: HistoryPage = HistoryPage(), logger: Logger) throws -> JSONValue {
        let verdict: ChainStatus.Verdict
        do { verdict = try chain.verdict(logger: logger) } catch { throw Self.storage(error) }
        struct Row { let event: StoredEvent; let before: JobState?; let after: JobState; let sincePrevious: Int64? }
        var rows: [Row] = []
        // A page right after one read before resumes its fold (a watcher's `?after=<last seq>`).
        let resume = page.after > 0 ? historyResume.point(id, endingAt: page.after) : nil
        var state: JobState? = resume?.state
        var previous: Timestamp? = resume?.recordedAt
        var more = false
        try ledger.scanEvents(of: id, afterVersion: resume?.state.version ?? 0) { e in
            if e.seq > page.after, let limit = page.limit, rows.count == limit { more = true; return false }
            let before = state
            let after = try Lifecycle.apply(e.payload, to: before, job: id, at: e.recordedAt)
            state = after
            if e.seq > page.after {
                rows.append(Row(event: e, before: before, after: after, sincePrevious: previous.map { e.recordedAt.milliseconds - $0.milliseconds }))
            }
            previous = e.recordedAt
            return true
        }
        if let last = rows.last { historyResume.keep(id, .init(seq: last.event.seq, state: last.after, recordedAt: last.event.recordedAt)) }
        let outbox: [Int64: OutboxItem]
        do { outbox = try broadcasts(of: id, after: page.after, through: rows.last?.event.seq ?? page.after) } catch { throw Self.storage(error) }
        let events: [JSONValue] = rows.map { r in
            let e = r.event
            let verified = verdict.brokenAt.map { e.seq < $0 } ?? (e.seq <= verdict.head)
            return .object([
                "seq": .int(e.seq), "version": .int(Int64(e.version)), "type": .string(e.type.rawValue),
                "recorded_at": .string(e.recordedAt.iso8601),
                "since_previous_ms": r.sincePrevious.map { .int($0) } ?? .null,
                "state": .string(r.after.status.rawValue), "progress": .double(r.after.progress),
                "payload": e.payload.json, "change": .string(Change.describe(before: r.before, after: r.after, payload: e.payload)),
                "hash": .string(e.hash), "prev_hash": .string(e.prevHash), "chain_verified": .bool(verified),
                "broadcast": outbox[e.seq].map { i in
                    .object(["status": .string(i.status.rawValue),
                             "message": (try? JSONValue(parsing: blobURLs.message(i.body))) ?? .null])
                } ?? .null,
            ])
        }
        var chainInfo: [String: JSONValue] = ["verified_through": .int(verdict.brokenAt.map { $0 - 1 } ?? verdict.head)]
        if let at = verdict.brokenAt { chainInfo["broken_at"] = .int(at); chainInfo["problem"] = .string(verdict.problem ?? "") }
        // Said beside the events too (the page's chain line read "verified" while /readyz and the
        // banner said the rules were gone): kind and name only, as /readyz gives them.
        if !verdict.removedRules.isEmpty { chainInfo["removed_rules"] = .array(verdict.removedRuleNames.map { .string($0) }) }
        let next: JSONValue = more ? .int(rows.last?.event.seq ?? page.after) : .null
        return .object(["job": .string(id.rawValue), "chain": .object(chainInfo), "events": .array(events), "next_after": next])
    }

    /// The broadcast item of each of the job's events with a seq in `after+1 … through` (the
    /// first one where a seq has several), read a thousand at a time up to `through` only: a
    /// page's items, not the whole job's.
    func broadcasts(of id: JobID, after: Int64, through: Int64) throws(LedgerError) -> [Int64: OutboxItem] {
        let chunk = 1000
        var items: [Int64: OutboxItem] = [:]
        var from = after
        while from < through {
            let read = try ledger.outboxItems(.broadcast, after: from, job: id, limit: chunk)
            for i in read where i.seq <= through && items[i.seq] == nil { items[i.seq] = i }
            guard read.count == chunk, let last = read.last else { break }
            from = last.seq
        }
        return items
    }
}
