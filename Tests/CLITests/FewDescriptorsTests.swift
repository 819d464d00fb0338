import Foundation
import JobLedgerTestSupport
import Testing

/// With too few file descriptors a command used to crash part way (SIGILL: libdispatch's
/// worker-pool monitor, or NIO making an event loop, trap when none is left), or to fail with
/// whatever exit code the first failed `open` led to (serve: `Error: socket(…)`, exit 1;
/// import: exit 2 at `ulimit -n 6`, exit 6 at 8). Every command now raises its soft limit and
/// refuses one under its floor before it opens anything: one line naming the limit, what it
/// needs and `ulimit -n`, exit 2.
@Suite struct FewDescriptorsTests {
    /// `work` with 12 or 16 descriptors: it crashed (exit 132) in 3 runs of 4 at 12; at 14…16
    /// its reads of the log failed now and then. Refused now, with every job left queued.
    @Test(arguments: [12, 16])
    func workUnderItsFloorIsRefusedAndTouchesNothing(descriptors: Int) async throws {
        let scratch = Scratch()
        for _ in 0..<5 {
            let r = try await jobledger(["submit", "design", "--db", "f.sqlite"], in: scratch)
            try #require(r.status == 0, "\(r)")
        }
        let before = try await snapshot("f.sqlite", in: scratch)
        let r = try await jobledger(["work", "--db", "f.sqlite", "--workers", "4", "--until-idle", "--fail-rate", "0"],
                                    in: scratch, openFiles: descriptors)
        expectRefusal(r, exit: 2, mentions: ["the open-file limit is \(descriptors)", "`work`", "at least 64", "ulimit -n 64"])
        #expect(try await snapshot("f.sqlite", in: scratch) == before)
    }

    /// At its floor `work` runs to the end: the floor is not set above what it needs.
    @Test func workAtItsFloorFinishesEveryJob() async throws {
        let scratch = Scratch()
        for _ in 0..<5 { _ = try await jobledger(["submit", "design", "--db", "f.sqlite"], in: scratch) }
        let r = try await jobledger(["work", "--db", "f.sqlite", "--workers", "4", "--until-idle", "--fail-rate", "0", "--step-ms", "0"],
                                    in: scratch, openFiles: 64)
        #expect(r.status == 0, "\(r)")
        let jobs = try await jobledger(["jobs", "--db", "f.sqlite", "--json"], in: scratch)
        #expect(jobs.stdout.components(separatedBy: #""state":"completed""#).count - 1 == 5, "\(jobs)")
    }

    /// `serve` at 16 said `Error: socket(domain:type:protocolSubtype:): Too many open files) (errno: 24)`
    /// and exited 1 ("verification failed"); at 10 NIO trapped. Refused now, before the log is made.
    @Test(arguments: [10, 16])
    func serveUnderItsFloorIsRefusedBeforeTheLogIsMade(descriptors: Int) async throws {
        let scratch = Scratch()
        let r = try await jobledger(["serve", "--db", "s.sqlite", "--port", "0"], in: scratch, openFiles: descriptors,
                                    environment: ["JOBLEDGER_AUTH_HS256_SECRET": "0123456789abcdef0123456789abcdef"])
        expectRefusal(r, exit: 2, mentions: ["the open-file limit is \(descriptors)", "`serve`", "connections", "ulimit -n"])
        #expect(!scratch.exists("s.sqlite"))
    }

    /// `import` exited 2 at `ulimit -n 6` ("no file descriptors left"), 6 at 8 ("storage error:
    /// cannot read the input: Too many open files") and crashed at 10…12: one answer now.
    @Test(arguments: [6, 8, 11])
    func importUnderTheFloorOfEveryCommandIsRefused(descriptors: Int) async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("a.sqlite", in: scratch)
        let export = try await jobledger(["export", "--db", "a.sqlite"], in: scratch)
        try Data(export.stdout.utf8).write(to: scratch.url.appendingPathComponent("e.ndjson"))
        let r = try await jobledger(["import", "--db", "b.sqlite", "e.ndjson"], in: scratch, openFiles: descriptors)
        expectRefusal(r, exit: 2, mentions: ["the open-file limit is \(descriptors)", "`import`", "at least 32", "ulimit -n 32"])
        #expect(!scratch.exists("b.sqlite"))
    }

    /// `demo` and `project` run the engine or the projections: the engine's floor.
    @Test(arguments: [["demo", "--db", "d.sqlite"], ["project", "--once", "--db", "d.sqlite"]])
    func engineCommandsUnderTheirFloorAreRefused(_ args: [String]) async throws {
        let scratch = Scratch()
        let r = try await jobledger(args, in: scratch, openFiles: 40)
        expectRefusal(r, exit: 2, mentions: ["the open-file limit is 40", "`\(args[0])`", "at least 64", "ulimit -n 64"])
    }

    /// Help opens nothing and is never refused; above the floor, a usage error stays a usage
    /// error. (Under it, the limit is said first: it is checked before the words are parsed;
    /// checked after, a run with 6 descriptors crashed before the refusal was printed.)
    @Test func helpAndUsageErrorsAreNotRefused() async throws {
        let scratch = Scratch()
        let help = try await jobledger(["work", "--help"], in: scratch, openFiles: 12)
        #expect(help.status == 0 && help.stdout.contains("--workers"), "\(help)")
        let usage = try await jobledger(["work", "--workers", "0"], in: scratch, openFiles: 64)
        #expect(usage.status == 64, "\(usage)")
        let under = try await jobledger(["work", "--workers", "0"], in: scratch, openFiles: 12)
        expectRefusal(under, exit: 2, mentions: ["the open-file limit is 12", "`work`"])
    }
}
