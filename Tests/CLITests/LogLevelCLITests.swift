import Foundation
import JobLedgerTestSupport
import Testing

/// Every command logged at `warning` whatever an operator wanted: the engine's line for each
/// claim (debug) and each outcome (info) could not be seen. `JOBLEDGER_LOG_LEVEL` sets the level
/// for every command, `--log-level` for `work`, `serve`, `project` and `demo` (it wins).
@Suite struct LogLevelCLITests {
    static let accepted = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    @Test func anInvalidLevelIsAUsageErrorThatNamesTheAcceptedOnes() async throws {
        let scratch = Scratch()
        let job = try await logWithQueuedJob("l.sqlite", in: scratch)
        let cases: [(args: [String], environment: [String: String], named: String)] = [
            (["project", "--once", "--db", "l.sqlite"], ["JOBLEDGER_LOG_LEVEL": "loud"], "JOBLEDGER_LOG_LEVEL"),
            (["work", "--until-idle", "--db", "l.sqlite"], ["JOBLEDGER_LOG_LEVEL": "verbose"], "JOBLEDGER_LOG_LEVEL"),
            (["work", "--until-idle", "--db", "l.sqlite", "--log-level", "verbose"], [:], "--log-level"),
            (["serve", "--db", "l.sqlite", "--insecure-no-auth", "--log-level", "all"], [:], "--log-level"),
            (["jobs", "--db", "l.sqlite"], ["JOBLEDGER_LOG_LEVEL": "loud"], "JOBLEDGER_LOG_LEVEL"),
            // The names exactly, as every fixed vocabulary of the CLI (`--durability NORMAL` is refused too).
            (["project", "--once", "--db", "l.sqlite"], ["JOBLEDGER_LOG_LEVEL": "INFO"], "JOBLEDGER_LOG_LEVEL"),
        ]
        for c in cases {
            let r = try await jobledger(c.args, in: scratch, environment: c.environment)
            #expect(r.status == 64, "\(r)")
            // The option's refusal is the parser's, which lists the values a line each.
            #expect(r.stderr.contains(c.named) && Self.accepted.allSatisfy { r.stderr.contains($0) }, "\(r)")
            #expect(r.stdout.isEmpty, "\(r)")
        }
        // Refused before anything ran: the job is still queued.
        let state = try await jobledger(["state", job, "--db", "l.sqlite", "--json"], in: scratch)
        #expect(state.stdout.contains(#""state":"queued""#), "\(state)")
    }

    /// The lines of `stderr` the engine logged at `level` about `job`, saying `text`.
    static func engineLines(_ r: CLIResult, _ level: String, job: String, saying text: String) -> [String] {
        r.stderrLines.filter { $0.contains(" \(level) jobledger.engine:") && $0.contains(job) && $0.contains(text) }
    }

    @Test func eachJobsLifecycleShowsAtDebugAndInfo() async throws {
        let scratch = Scratch()
        let run = ["work", "--until-idle", "--fail-rate", "0", "--workers", "1"]
        // By default: warnings only, as before.
        let quiet = try await logWithQueuedJob("quiet.sqlite", in: scratch)
        let plain = try await jobledger(run + ["--db", "quiet.sqlite"], in: scratch)
        #expect(plain.status == 0, "\(plain)")
        #expect(!plain.stderrLines.contains { $0.contains(" debug ") || $0.contains(" info ") }, "\(plain)")
        #expect(!plain.stderr.contains(quiet), "\(plain)")

        // The variable: the claim (debug) and the outcome (info).
        let loud = try await logWithQueuedJob("debug.sqlite", in: scratch)
        let debug = try await jobledger(run + ["--db", "debug.sqlite"], in: scratch, environment: ["JOBLEDGER_LOG_LEVEL": "debug"])
        #expect(debug.status == 0, "\(debug)")
        #expect(Self.engineLines(debug, "debug", job: loud, saying: "claimed").count == 1, "\(debug)")
        #expect(Self.engineLines(debug, "info", job: loud, saying: "completed").count == 1, "\(debug)")

        // The option wins over the variable.
        let some = try await logWithQueuedJob("info.sqlite", in: scratch)
        let info = try await jobledger(run + ["--db", "info.sqlite", "--log-level", "info"], in: scratch,
                                       environment: ["JOBLEDGER_LOG_LEVEL": "error"])
        #expect(info.status == 0, "\(info)")
        #expect(Self.engineLines(info, "info", job: some, saying: "completed").count == 1, "\(info)")
        #expect(Self.engineLines(info, "debug", job: some, saying: "claimed").isEmpty, "\(info)")
    }

    /// One-off commands follow the variable too: `submit` logs what its engine did at debug.
    @Test func theVariableReachesEveryCommand() async throws {
        let scratch = Scratch()
        let r = try await jobledger(["submit", "design", "--db", "s.sqlite"], in: scratch, environment: ["JOBLEDGER_LOG_LEVEL": "debug"])
        #expect(r.status == 0, "\(r)")
        let job = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Self.engineLines(r, "debug", job: job, saying: "submitted").count == 1, "\(r)")
    }
}
