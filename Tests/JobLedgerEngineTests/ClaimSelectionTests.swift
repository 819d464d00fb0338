import JobLedger
@testable import JobLedgerEngine
import Testing

@Suite struct ClaimSelectionTests {
    typealias C = JobEngine.ClaimCandidate

    /// The obvious reference: sort every candidate best first, take greedily within each
    /// capped kind's room, up to the limit.
    static func reference(_ all: [C], room: [String: Int], limit: Int) -> [C] {
        var left = room
        var out: [C] = []
        for c in all.sorted() where out.count < limit {
            if let r = left[c.kind] { if r <= 0 { continue }; left[c.kind] = r - 1 }
            out.append(c)
        }
        return out
    }

    static func queue(_ candidates: [C], now: Timestamp = Timestamp(milliseconds: 10)) -> ClaimQueue {
        var q = ClaimQueue()
        for c in candidates { q.offer(.init(candidate: c, version: 1, runAt: Timestamp(milliseconds: 0)), now: now) }
        return q
    }

    /// The index's choice equals the reference on many random cases, whatever order the
    /// candidates were offered in.
    @Test func indexTakesWhatSortThenTakeGreedilyTakes() {
        var random = SplitMix64(seed: 7)
        let kinds = ["a", "b", "c", "d"]
        for _ in 0..<3000 {
            let n = Int(random.next() % 12)
            let all = (0..<n).map { i in
                C(priority: Int(random.next() % 3), createdAt: Timestamp(milliseconds: Int64(random.next() % 5)),
                  id: try! JobID("job-\(i)"), kind: kinds[Int(random.next() % 4)])
            }
            var room: [String: Int] = [:]
            for k in kinds where random.next() % 2 == 0 { room[k] = Int(random.next() % 3) }
            let limit = Int(random.next() % 7)
            var shuffled = all
            shuffled.shuffle(using: &random)
            var q = Self.queue(shuffled)
            let got = q.take(now: Timestamp(milliseconds: 10), kinds: Set(kinds), room: room, limit: limit) { _ in .claimable }.map(\.candidate)
            let want = Self.reference(all, room: room, limit: limit)
            #expect(got == want, "limit \(limit), room \(room), candidates \(shuffled.map { "\($0.id):\($0.kind):p\($0.priority)" })")
            if got != want { return }
            // What was taken left the index; the rest is still there, in order.
            let rest = q.take(now: Timestamp(milliseconds: 10), kinds: Set(kinds), room: [:], limit: .max) { _ in .claimable }.map(\.candidate)
            #expect(rest == all.sorted().filter { !want.contains($0) })
        }
    }

    /// A full capped kind must leave the places to the others: `low` (gpu) is worse than the
    /// two cpu jobs, and `mid` (gpu) still gets the gpu place.
    @Test func aCappedKindGetsItsPlaceAndNoMore() {
        func c(_ id: String, _ priority: Int, _ kind: String) -> C {
            C(priority: priority, createdAt: Timestamp(milliseconds: 0), id: try! JobID(id), kind: kind)
        }
        let low = c("low", 0, "gpu"), high1 = c("high1", 9, "cpu"), high2 = c("high2", 7, "cpu"), mid = c("mid", 8, "gpu")
        var q = Self.queue([low, high1, high2, mid])
        #expect(q.take(now: Timestamp(milliseconds: 10), kinds: ["gpu", "cpu"], room: ["gpu": 1], limit: 3) { _ in .claimable }.map(\.candidate)
                == [high1, mid, high2])
    }

    /// Stale entries are dropped, entries not for this round are kept for the next, unknown
    /// kinds are never taken, and a delayed entry waits for its run-at.
    @Test func staleEntriesGoNotNowStaysDelayedWaits() {
        func c(_ id: String, _ priority: Int, _ kind: String = "k") -> C {
            C(priority: priority, createdAt: Timestamp(milliseconds: 0), id: try! JobID(id), kind: kind)
        }
        var q = ClaimQueue()
        let t = { Timestamp(milliseconds: $0) }
        q.offer(.init(candidate: c("stale", 9), version: 1, runAt: t(0)), now: t(0))
        q.offer(.init(candidate: c("busy", 8), version: 1, runAt: t(0)), now: t(0))
        q.offer(.init(candidate: c("ok", 1), version: 1, runAt: t(0)), now: t(0))
        q.offer(.init(candidate: c("later", 5), version: 1, runAt: t(100)), now: t(0))
        q.offer(.init(candidate: c("other", 9, "unregistered"), version: 1, runAt: t(0)), now: t(0))
        let verdict: (ClaimQueue.Entry) -> ClaimQueue.Verdict = { e in
            switch e.id.rawValue { case "stale": .stale; case "busy": .notNow; default: .claimable }
        }
        #expect(q.take(now: t(50), kinds: ["k"], room: [:], limit: 5, verdict: verdict).map(\.id.rawValue) == ["ok"])
        #expect(q.take(now: t(100), kinds: ["k"], room: [:], limit: 5) { _ in .claimable }.map(\.id.rawValue) == ["busy", "later"])
        #expect(q.count == 1)  // only the unregistered kind's entry is left
    }
}
