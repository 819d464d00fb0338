import JobLedger
import Testing
@testable import JobLedgerEngine

/// `QueuedJobs` places its keys by a hash of its own (not a `Hasher`): every id put in must be
/// found again, under its own entry, as the table grows past many sizes and shrinks.
@Suite("QueuedJobs")
struct QueuedJobsTests {
    @Test("every job put in is found under its own entry as the table grows, and gone once removed")
    func findsEveryJob() throws {
        // Time-ordered ids of one millisecond share long prefixes: the case the hash is for.
        let ids = (0..<50_000).map { _ in JobID.generate(at: Timestamp(milliseconds: 1_764_000_000_000)) }
        #expect(Set(ids).count == ids.count)
        var jobs = QueuedJobs()
        for (i, id) in ids.enumerated() {
            #expect(jobs.updateValue(Self.entry(version: i + 1), forKey: id) == nil)
        }
        #expect(jobs.count == ids.count)
        for (i, id) in ids.enumerated() { #expect(jobs[id]?.version == Int32(i + 1)) }
        for id in ids.prefix(25_000) { jobs[id] = nil }
        #expect(jobs.count == 25_000)
        #expect(ids.prefix(25_000).allSatisfy { jobs[$0] == nil })
        #expect(ids.dropFirst(25_000).enumerated().allSatisfy { jobs[$0.element]?.version == Int32(25_000 + $0.offset + 1) })
    }

    static func entry(version: Int) -> EngineView.Queued {
        EngineView.Queued(version: Int32(version), kind: 0)
    }
}
