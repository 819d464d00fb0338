import Foundation
import GRDB
import JobLedger
@testable import JobLedgerBenchmarks
import JobLedgerSQLite
import Testing

/// The raw sides of `jobledger bench` must write exactly the rows they claim to, or the ratios
/// compare different work.
final class TempDir: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-bench-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite struct BenchmarkTests {
    @Test("the burn-down ceiling writes 6 rows per job, queued rows first, then lanes of jobs interleaved")
    func burnDownCeilingWritesEveryRow() throws {
        let dir = TempDir()
        let result = try LedgerBenchmarks.rawBurnDownCeiling(directory: dir.url, jobs: 10, lanes: 4,
                                                              configuration: LedgerConfiguration())
        #expect(result.jobsPerSecond > 0 && result.rowsPerSecond > 0)
        let ledger = try Ledger.open(path: dir.path("engine-raw-10.sqlite"))
        let rows = try ledger.read { db in
            try Row.fetchAll(db, sql: "SELECT job_id, version, type FROM events ORDER BY seq").map { ($0[0] as String, $0[1] as Int, $0[2] as String) }
        }
        #expect(rows.count == 60)
        #expect(rows.prefix(10).allSatisfy { $0.1 == 1 && $0.2 == "queued" })
        // Every job has versions 1…6, each once.
        let byJob = Dictionary(grouping: rows, by: \.0)
        #expect(byJob.count == 10 && byJob.values.allSatisfy { $0.map(\.1) == [1, 2, 3, 4, 5, 6] })
        // After the queued rows: the first 4 jobs' started rows come before any fifth row.
        let firstJobs = Set(rows.prefix(4).map(\.0))
        #expect(Set(rows[10..<14].map(\.0)) == firstJobs && rows[10..<14].allSatisfy { $0.2 == "started" })
    }

    @Test("the replay child's peak memory is read from VmHWM, its own high-water mark")
    func peakMemoryComesFromVmHWM() {
        let status = "Name:\tjobledger\nVmPeak:\t  400000 kB\nVmHWM:\t   61440 kB\nVmRSS:\t   50000 kB\n"
        #expect(LedgerBenchmarks.peakResidentKilobytes(status: status) == 61440)
        #expect(LedgerBenchmarks.peakResidentKilobytes(status: "VmRSS:\t 1 kB\n") == nil)
        #expect(LedgerBenchmarks.peakResidentKilobytes(status: "VmHWM:\t lots\n") == nil)
        // This process has one (read from /proc, not the fallback): at least a megabyte, and no
        // less than the resident size read before it. (Not compared with getrusage's ru_maxrss:
        // the kernel updates that high-water mark lazily, so with other tests allocating beside
        // this one VmHWM can be ahead of it.)
        let status2 = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        #expect(LedgerBenchmarks.peakResidentKilobytes(status: status2) != nil)
        let rssBefore = status2.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) } ?? 0
        let own = LedgerBenchmarks.ownPeakResidentKilobytes()
        #expect(own > 1024 && rssBefore > 0 && own >= rssBefore)
    }
}
