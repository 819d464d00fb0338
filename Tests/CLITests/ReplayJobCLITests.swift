import Foundation
import Testing

/// `replay --job ID` of a job the log does not hold (a mistyped id) is refused, exit 3, as
/// `history` and `state` refuse it; it printed an empty table, "replayed 0 events", exit 0, as
/// if the job had done nothing. A job that exists but began after the point still replays to
/// nothing, exit 0.
@Suite struct ReplayJobCLITests {
    @Test(arguments: [[String](), ["--effects"], ["--projection", "broadcast"], ["--json"]])
    func aJobTheLogDoesNotHoldIsRefused(_ options: [String]) async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        let r = try await jobledger(["replay", "--db", "log.sqlite", "--job", "no-such-job"] + options, in: scratch)
        expectRefusal(r, exit: 3, mentions: ["no such job no-such-job in log.sqlite"])
    }

    @Test func aJobThatBeganAfterThePointReplaysToNothing() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        let later = try await logWithQueuedJob("log.sqlite", in: scratch)  // seq 5
        let r = try await jobledger(["replay", "--db", "log.sqlite", "--job", later, "--until-seq", "4", "--json"], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "[]\n", "\(r)")
        let all = try await jobledger(["replay", "--db", "log.sqlite", "--job", later, "--json"], in: scratch)
        #expect(all.status == 0 && all.stdout.contains(later), "\(all)")
    }
}
