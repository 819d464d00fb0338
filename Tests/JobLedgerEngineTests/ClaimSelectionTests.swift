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

    /// The one-pass selection equals the reference on many random cases, whatever order the
    /// candidates come in (dictionary order is random per process).
    @Test func onePassSelectionEqualsSortThenTakeGreedily() {
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
            let got = JobEngine.selectBest(shuffled, room: room, limit: limit)
            let want = Self.reference(all, room: room, limit: limit)
            #expect(got == want, "limit \(limit), room \(room), candidates \(shuffled.map { "\($0.id):\($0.kind):p\($0.priority)" })")
            if got != want { return }
        }
    }

    /// A case where forgetting to give a capped kind its place back, when one of its jobs
    /// falls off the end, goes wrong: `low` (gpu) is pushed out by two cpu jobs, and `mid`
    /// (gpu) must still get the gpu place.
    @Test func aJobPushedOffTheEndGivesItsKindsPlaceBack() {
        func c(_ id: String, _ priority: Int, _ kind: String) -> C {
            C(priority: priority, createdAt: Timestamp(milliseconds: 0), id: try! JobID(id), kind: kind)
        }
        let low = c("low", 0, "gpu"), high1 = c("high1", 9, "cpu"), high2 = c("high2", 7, "cpu"), mid = c("mid", 8, "gpu")
        #expect(JobEngine.selectBest([low, high1, high2, mid], room: ["gpu": 1], limit: 2) == [high1, mid])
    }
}
