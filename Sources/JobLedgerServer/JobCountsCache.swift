import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Synchronization

/// The jobs list's counts per state, reused only where counting is costly. Every list request
/// (and the dashboard's list, which a page polls once a second) shows them, and counting is a
/// `GROUP BY` over the `jobs` table's index: about 60 ms for a million jobs. A count that took
/// `d` milliseconds is reused for up to `costFactor · d` (at most one second) by requests with
/// the same filter, so counting takes at most about a twentieth of a core per filter whatever
/// the table's size and however many pages poll, while a small table (a count under a
/// millisecond) is counted afresh for every request. The jobs of the page itself are always
/// read afresh.
final class JobCountsCache: Sendable {
    /// The filters counts depend on (not the state filter or the cursor).
    struct Key: Hashable, Sendable {
        let kind: String?
        let owner: String?
    }

    struct Entry: Sendable {
        let counts: [JobStatus: Int]
        /// When the count ended, on the server's clock (milliseconds).
        let at: Int64
        let reuseFor: Int64
    }

    static let costFactor: Int64 = 20
    static let maxReuseMilliseconds: Int64 = 1000
    /// Filters remembered at most (owners are many): past it, all are forgotten at once.
    static let maxEntries = 4096
    private let entries = Mutex<[Key: Entry]>([:])

    /// The counts for `key` when a recent, costly count may stand in for a new one.
    func reusable(_ key: Key, now: Int64) -> [JobStatus: Int]? {
        entries.withLock { e in
            guard let hit = e[key], now >= hit.at, now - hit.at < hit.reuseFor else { return nil }
            return hit.counts
        }
    }

    /// Remembers a count that ended at `at` and took `tookMilliseconds`.
    func counted(_ counts: [JobStatus: Int], key: Key, at: Int64, tookMilliseconds: Int64) {
        let reuse = min(Self.maxReuseMilliseconds, max(0, tookMilliseconds) * Self.costFactor)
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
        let started = now()
        let page = try ledger.jobListPage(state: state, kind: kind, owner: owner, before: before, limit: limit)
        let ended = now()
        jobCounts.counted(page.counts, key: key, at: ended, tookMilliseconds: ended - started)
        return page
    }
}
