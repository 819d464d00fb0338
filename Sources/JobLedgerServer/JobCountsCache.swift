import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Synchronization

/// The jobs list's counts per state, reused only where counting is costly. Every list request
/// shows them, and counting is a `GROUP BY` over the `jobs` table's index: about 60 ms for a
/// million jobs. A count that took `d` (the `GROUP BY` alone) is reused by requests with the
/// same filter for `costFactor · d`, at most one second; while one request counts afresh, the
/// others of that filter are given the counts it replaces. So one filter's counting takes at
/// most `d / (d + reuse)` of a core: a twenty-first for counts under 50 ms, about 6 % at 60 ms,
/// more for slower ones (d / (d + 1 s)). A count under `floorMilliseconds` (10 ms: a table of
/// up to some hundred thousand jobs) is never reused, so such tables are counted afresh for
/// every request. The jobs of the page itself are always read afresh.
final class JobCountsCache: Sendable {
    /// The filters counts depend on (not the state filter or the cursor). `owner` is nil only
    /// for an admin's list, so a user never sees counts made for someone else.
    struct Key: Hashable, Sendable {
        let kind: String?
        let owner: String?
    }

    struct Entry: Sendable {
        let counts: [JobStatus: Int]
        /// When the count ended, on the server's clock (milliseconds).
        let at: Int64
        let reuseFor: Int64
        /// When a request began counting afresh (the others are given these counts meanwhile).
        var recounting: Int64?
    }

    static let costFactor: Int64 = 20
    static let maxReuseMilliseconds: Int64 = 1000
    /// Filters remembered at most (owners are many): past it, all are forgotten at once.
    static let maxEntries = 4096
    private let entries = Mutex<[Key: Entry]>([:])
    /// Counts are taken to have cost at least this much (for tests, which count small tables).
    let minimumCostMilliseconds: Int64
    /// A count that took less is never reused.
    let floorMilliseconds: Int64

    init(minimumCostMilliseconds: Int64 = 0, floorMilliseconds: Int64 = 10) {
        self.minimumCostMilliseconds = minimumCostMilliseconds
        self.floorMilliseconds = floorMilliseconds
    }

    /// The counts for `key` when a recent, costly count may stand in for a new one; nil when
    /// the caller is to count.
    func reusable(_ key: Key, now: Int64) -> [JobStatus: Int]? {
        entries.withLock { e in
            guard var hit = e[key], now >= hit.at else { return nil }
            if now - hit.at < hit.reuseFor { return hit.counts }
            // Stale: this caller counts, and the others are given these counts meanwhile,
            // unless that count began long ago (it failed, or its request went away).
            if let since = hit.recounting, now >= since, now - since < Self.maxReuseMilliseconds { return hit.counts }
            hit.recounting = now
            e[key] = hit
            return nil
        }
    }

    /// Remembers a count that ended at `at` and took `tookMilliseconds`.
    func counted(_ counts: [JobStatus: Int], key: Key, at: Int64, tookMilliseconds: Int64) {
        let cost = max(tookMilliseconds, minimumCostMilliseconds)
        let reuse = cost < floorMilliseconds ? 0 : min(Self.maxReuseMilliseconds, cost * Self.costFactor)
        entries.withLock { e in
            guard reuse > 0 else { e[key] = nil; return }
            if e.count >= Self.maxEntries && e[key] == nil { e.removeAll(keepingCapacity: true) }
            e[key] = Entry(counts: counts, at: at, reuseFor: reuse)
        }
    }
}

extension JobLedgerServer {
    /// A page of the jobs list (`Ledger.jobListPage`), its counts reused where counting is
    /// costly (`JobCountsCache`).
    func jobListPage(state: JobStatus?, kind: String?, owner: String?, before: JobID?, limit: Int) throws(LedgerError) -> JobListPage {
        let key = JobCountsCache.Key(kind: kind, owner: owner)
        if let counts = jobCounts.reusable(key, now: now()) {
            var page = try ledger.jobListPage(state: state, kind: kind, owner: owner, before: before, limit: limit, counting: false)
            page.counts = counts
            return page
        }
        let page = try ledger.jobListPage(state: state, kind: kind, owner: owner, before: before, limit: limit)
        let took = page.countingTime.components
        jobCounts.counted(page.counts, key: key, at: now(), tookMilliseconds: took.seconds * 1000 + took.attoseconds / 1_000_000_000_000_000)
        return page
    }
}
