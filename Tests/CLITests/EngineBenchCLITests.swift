import Foundation
import Testing

/// `jobledger bench --only engine --json` keeps the keys issue 16 names for each backlog, and
/// its figures are the burn-down's: every job's six events written, a peak memory and a first
/// claim measured in the engine's own child process. (Small backlogs, a debug build: the
/// figures themselves are for `bench` in a release build, not for a test.)
@Suite(.timeLimit(.minutes(5)))
struct EngineBenchCLITests {
    let scratch = Scratch()

    @Test func eachBacklogIsOneEngineBurnDownEntryWithTheIssuesKeys() async throws {
        let r = try await jobledger(["bench", "--only", "engine", "--engine-jobs", "120,300", "--engine-workers", "8",
                                     "--json", "--dir", scratch.path("")], in: scratch)
        #expect(r.status == 0, "\(r)")  // a target not met is reported, not an error
        let document = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r)")
        let items = try #require(document["benchmarks"] as? [[String: Any]], "\(r)")
        let burns = items.filter { $0["name"] as? String == "engine burn-down" }
        #expect(burns.map { $0["jobs"] as? Int } == [120, 300])
        for b in burns {
            for key in ["jobs", "jobs_per_s", "raw_ceiling_jobs_per_s", "ratio_to_raw_ceiling", "peak_rss_mb", "first_claim_s"] {
                #expect(b[key] != nil, "missing \(key) in \(b)")
            }
            #expect(b["events_per_s"] as? Int ?? 0 > 0)
            #expect((b["peak_rss_mb"] as? Double ?? 0) > 1)
            let first = try #require(b["first_claim_s"] as? Double)
            #expect(first > 0, "the first claim was measured")
            let perSecond = try #require(b["jobs_per_s"] as? Int), ceiling = try #require(b["raw_ceiling_jobs_per_s"] as? Int)
            #expect(perSecond > 0 && ceiling > 0)
            let ratio = try #require(b["ratio_to_raw_ceiling"] as? Double)
            #expect(abs(ratio - Double(perSecond) / Double(ceiling)) < 0.05, "the ratio is the two rates': \(b)")
        }
    }
}

/// `bench --events N` with N below what a benchmark appends (whole 6-event lifecycles, the
/// same number in each of its rounds and tasks, at least one): its header says what it
/// appends, as its table does, and what was asked for. (Its header said 6, its table 60.)
@Suite(.timeLimit(.minutes(5)))
struct BenchEventCountCLITests {
    let scratch = Scratch()

    @Test func theHeaderCountsTheEventsTheTableCounts() async throws {
        let r = try await jobledger(["bench", "--only", "live", "--events", "6", "--json", "--dir", scratch.path("")], in: scratch)
        #expect(r.status == 0, "\(r)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r)")
        let items = try #require(document["benchmarks"] as? [[String: Any]], "\(r)")
        let events = try #require(items.first?["events"] as? Int, "\(r)")
        #expect(events == 60)
        #expect(r.stderr.contains("live appends: 60 events, one per transaction (--events 6 in whole 6-event lifecycles"), "\(r.stderr)")
    }
}
