import Foundation
import JobLedger
@testable import JobLedgerProjections
import Testing

/// The projections' state caches hold at most `byteLimit` bytes of states, roughly, and
/// `countLimit` jobs: a backlog of jobs with large inputs no longer keeps gigabytes alive.
@Suite struct BoundedStatesTests {
    static func state(_ n: Int, input: JSONValue) throws -> JobState {
        try Lifecycle.begin(job: JobID("job-\(n)"), with: .queued(.init(kind: "k", input: input)), at: Timestamp(milliseconds: 0))
    }

    @Test func largeInputsSpendTheByteBudgetAndEmptyTheCache() throws {
        let mib = JSONValue.string(String(repeating: "x", count: 1 << 20))
        var held = BoundedStates()
        let one = try Self.state(0, input: ["pad": mib])
        let fits = BoundedStates.byteLimit / BoundedStates.weight(of: one)
        #expect(fits > 10 && fits < 64)
        for n in 0..<fits { held.hold(try Self.state(n, input: ["pad": mib])) }
        #expect(held.count == fits && held.bytes <= BoundedStates.byteLimit)
        let first = try JobID("job-0"), last = try JobID("job-\(fits)")
        #expect(held[first] != nil)
        // One more does not fit: the cache starts again with it alone.
        let extra = try Self.state(fits, input: ["pad": mib])
        held.hold(extra)
        #expect(held.count == 1 && held[last] != nil && held[first] == nil)
        #expect(held.bytes == BoundedStates.weight(of: extra))
    }

    @Test func replacingAndRemovingKeepTheCountOfBytes() throws {
        var held = BoundedStates()
        let a = try Self.state(1, input: ["prompt": "a red bicycle", "sizes": [512, 1024]])
        let w = BoundedStates.weight(of: a)
        #expect(w > 256)
        held.hold(a)
        var later = a
        try later.apply(.started(.init(worker: "w1", attempt: 1, leaseDeadline: Timestamp(milliseconds: 60_000))), at: Timestamp(milliseconds: 1))
        held.hold(later)  // the same job, a later state: counted once
        #expect(held.count == 1 && held.bytes == w && held[a.id]?.version == 2)
        // A long progress message is weighed as it comes, not only the input.
        var talking = later
        try talking.apply(.progress(.init(fraction: 0.5, message: String(repeating: "m", count: 10_000), attempt: 1)), at: Timestamp(milliseconds: 2))
        held.hold(talking)
        #expect(held.count == 1 && held.bytes == w + 10_000)
        held.remove(a.id)
        #expect(held.count == 0 && held.bytes == 0)
    }

    @Test func smallStatesAreBoundedByCount() throws {
        var held = BoundedStates()
        for n in 0..<BoundedStates.countLimit { held.hold(try Self.state(n, input: [:])) }
        #expect(held.count == BoundedStates.countLimit)
        held.hold(try Self.state(BoundedStates.countLimit, input: [:]))
        #expect(held.count == 1)
    }
}
