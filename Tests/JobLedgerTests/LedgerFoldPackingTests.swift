import Testing
@testable import JobLedger

/// `LedgerFold` keeps the jobs in flight packed (an array, and an index into it): a job that
/// finishes leaves a hole that the last one fills. Whatever order jobs finish in, every job
/// still in flight must be found with its own state, and a copy of the fold must not change
/// when the original moves on.
@Suite struct LedgerFoldPackingTests {
    func at(_ s: Int64) -> Timestamp { Timestamp(milliseconds: 1_700_000_000_000 + s * 1000) }

    @Test(arguments: [1, 2, 7, 40])
    func jobsFinishingInAnyOrderLeaveTheOthersIntact(stride: Int) throws {
        var fold = LedgerFold()
        var seq: Int64 = 0
        let jobs = try (0..<60).map { try JobID("job-\($0)") }
        var running: [JobID: Int] = [:]  // the model: each job in flight and its version
        for (n, job) in jobs.enumerated() {
            seq += 1
            try fold.apply(job: job, payload: .queued(.init(kind: "k\(n % 3)", priority: n)), at: at(seq), seq: seq)
            running[job] = 1
        }
        let before = fold
        // Start every job, then finish them in an order that moves jobs from the end into the holes.
        for job in jobs {
            seq += 1
            try fold.apply(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: at(seq + 60))), at: at(seq), seq: seq)
            running[job] = 2
        }
        var order: [JobID] = []
        var i = 0
        var left = jobs
        while !left.isEmpty {
            i = (i + stride) % left.count
            order.append(left.remove(at: i))
        }
        for job in order.prefix(45) {
            seq += 1
            try fold.apply(job: job, payload: .completed(.init(attempt: 1)), at: at(seq), seq: seq)
            running[job] = nil
            #expect(fold.state(of: job) == nil && fold.version(of: job) == 3)
            // Every job still in flight is found, with its own state.
            for (other, version) in running {
                let s = try #require(fold.state(of: other))
                #expect(s.id == other && s.version == version && s.status == .running)
            }
            #expect(fold.activeCount == running.count)
        }
        #expect(Set(fold.active.keys) == Set(running.keys))
        #expect(fold.jobCount == 60)
        // The copy taken before is as it was: sixty queued jobs.
        #expect(before.activeCount == 60 && jobs.allSatisfy { before.state(of: $0)?.status == .queued && before.version(of: $0) == 1 })
        #expect(before.state(of: jobs[59])?.priority == 59)
    }
}
