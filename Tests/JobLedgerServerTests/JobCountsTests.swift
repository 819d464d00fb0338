import Foundation
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerProjections
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// The jobs list's counts are counted afresh unless counting is costly; a costly count is
/// reused by the same filter for twenty times as long as it took, at most a second.
@Suite struct JobCountsTests {
    typealias Cache = JobCountsCache
    let key = Cache.Key(kind: nil, owner: nil)

    @Test func aQuickCountIsNeverReused() {
        let cache = Cache()
        cache.counted([.queued: 1], key: key, at: 1000, tookMilliseconds: 9)
        #expect(cache.reusable(key, now: 1000) == nil, "under the 10 ms floor")
        cache.counted([.queued: 1], key: key, at: 1000, tookMilliseconds: 10)
        #expect(cache.reusable(key, now: 1199) == [.queued: 1])
    }

    @Test func aCostlyCountIsReusedForTwentyTimesItsCostAtMostASecond() {
        let cache = Cache()
        cache.counted([.queued: 3], key: key, at: 1000, tookMilliseconds: 10)
        #expect(cache.reusable(key, now: 1199) == [.queued: 3])
        #expect(cache.reusable(key, now: 1200) == nil)
        #expect(cache.reusable(Cache.Key(kind: "design", owner: nil), now: 1000) == nil, "another filter counts for itself")
        cache.counted([.queued: 4], key: key, at: 5000, tookMilliseconds: 60)
        #expect(cache.reusable(key, now: 5999) == [.queued: 4])
        #expect(cache.reusable(key, now: 6000) == nil, "a second at most")
        #expect(cache.reusable(key, now: 4999) == nil, "a clock that went back counts afresh")
        cache.counted([.queued: 5], key: key, at: 7000, tookMilliseconds: 2)
        #expect(cache.reusable(key, now: 7000) == nil, "a quick count replaces a costly one")
    }

    @Test func whileOneRequestRecountsTheOthersOfItsFilterAreGivenTheOldCounts() {
        let cache = Cache()
        cache.counted([.queued: 3], key: key, at: 1000, tookMilliseconds: 10)
        #expect(cache.reusable(key, now: 1300) == nil, "stale: this caller counts")
        #expect(cache.reusable(key, now: 1310) == [.queued: 3], "another, meanwhile")
        #expect(cache.reusable(key, now: 2400) == nil, "that count began over a second ago: count again")
        cache.counted([.queued: 4], key: key, at: 2450, tookMilliseconds: 10)
        #expect(cache.reusable(key, now: 2460) == [.queued: 4])
    }

    @Test func theLogCanSkipCountingAndServesTheSamePage() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await h.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "echo"))))
        _ = try await h.runner.catchUp()
        let counted = try h.ledger.jobListPage(limit: 10)
        let skipped = try h.ledger.jobListPage(limit: 10, counting: false)
        #expect(counted.counts == [.queued: 1] && skipped.counts.isEmpty)
        #expect(counted.jobs.map(\.state.id) == skipped.jobs.map(\.state.id) && skipped.jobs.count == 1)
    }

    @Test func theListRouteReusesACostlyCountThenCountsAfresh() async throws {
        var h = try await ServerHarness.make(); defer { h.cleanup() }
        // A few jobs count in microseconds: take every count to have cost 50 ms (so it stands for 1 s).
        h.server.jobCounts = JobCountsCache(minimumCostMilliseconds: 50, floorMilliseconds: 10)
        let h2 = h
        let admin = try await h.auth("user_root", role: "admin")
        _ = try await h.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "echo"))))
        _ = try await h.runner.catchUp()
        try await h2.live { c async throws in
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: admin).body.json?["counts"]?["queued"] == 1)
            _ = try await h2.ledger.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "echo"))))
            _ = try await h2.runner.catchUp()
            let reused = try await c.api(.get, "/api/jobs", "/api/jobs", headers: admin).body.json
            guard case .array(let jobs)? = reused?["jobs"] else { Issue.record("no jobs"); return }
            #expect(jobs.count == 2, "the page itself is read afresh")
            #expect(reused?["counts"]?["queued"] == 1, "the counts of a second ago")
            h2.clock.advance(ms: 1000)
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: admin).body.json?["counts"]?["queued"] == 2)
        }
    }
}
