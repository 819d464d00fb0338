import Foundation
import Testing

/// Bad input wherever a person can type it: ids that cannot be a path segment, and numbers out
/// of range in every numeric option. Each is refused with a message that names what was wrong,
/// before anything is opened or written, and nothing traps.
@Suite(.timeLimit(.minutes(5)))
struct BadInputTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    // MARK: Job ids that are not a path segment (exit 2)

    /// Blob pathnames are `jobs/<id>/…`: `.` and `..` (and any all-dot id) never get that far.
    @Test(arguments: [".", "..", "..."])
    func anAllDotJobIDIsRefusedEverywhere(id: String) async throws {
        let job = try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        for command in [["append", "--type", "canceled", "--payload", "{}", "--job", id], ["history", id], ["cancel", id],
                        ["state", id], ["retry", id], ["replay", "--job", id], ["tail", "--no-follow", "--job", id]] {
            let r = try await jobledger(command + ["--db", db], in: scratch)
            expectRefusal(r, exit: 2, mentions: ["invalid job id '\(id)'", "not only dots", "path segment"])
        }
        #expect(try await snapshot(db, in: scratch) == before)

        // An import line naming such a job is refused by line number, and nothing is imported.
        let exported = try await jobledger(["export", "--db", db], in: scratch)
        let file = scratch.path("dots.ndjson")
        try exported.stdout.replacingOccurrences(of: "\"\(job)\"", with: "\"\(id)\"").write(toFile: file, atomically: true, encoding: .utf8)
        let target = scratch.path("imported.sqlite")
        let r = try await jobledger(["import", "--db", target, file], in: scratch)
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("line 1") && r.stderr.contains("invalid job id '\(id)'"), "\(r)")
        if FileManager.default.fileExists(atPath: target) {
            #expect(try await jobledger(["export", "--db", target], in: scratch).stdout.isEmpty, "nothing imported")
        }
    }

    // MARK: Numeric options (exit 64)

    /// One row per numeric option: the command that takes it (with its required arguments) and
    /// the values it must refuse. Every option gets `inf`, `nan`, a negative number and `1e300`,
    /// and a whole number too large for its range (which parses as an integer, so the range
    /// check, not the parser, has to refuse it).
    struct Row: Sendable, CustomTestStringConvertible {
        let command: [String]
        let option: String
        var negative = "-1"
        var testDescription: String { "\(command.first!) \(option)" }
        var values: [String] { ["inf", "nan", negative, "1e300", "99999999999999999999", "9223372036854775807", "-inf"] }
    }

    static let rows: [Row] = [
        Row(command: ["jobs"], option: "--busy-timeout"),
        Row(command: ["jobs"], option: "--max-payload-bytes"),
        Row(command: ["work"], option: "--workers"),
        Row(command: ["work"], option: "--lease"),
        Row(command: ["work"], option: "--drain"),
        Row(command: ["work"], option: "--fail-rate"),
        Row(command: ["work"], option: "--step-ms"),
        Row(command: ["work"], option: "--progress-interval-ms"),
        Row(command: ["demo"], option: "--progress-interval-ms"),
        Row(command: ["serve"], option: "--progress-interval-ms"),
        Row(command: ["serve"], option: "--port"),
        Row(command: ["serve"], option: "--workers"),
        Row(command: ["serve"], option: "--lease"),
        Row(command: ["serve"], option: "--step-ms"),
        Row(command: ["serve"], option: "--max-stream-seconds"),
        Row(command: ["serve"], option: "--max-streams-per-user"),
        Row(command: ["serve"], option: "--idle-timeout"),
        Row(command: ["serve"], option: "--request-timeout"),
        Row(command: ["serve"], option: "--ready-max-lag"),
        Row(command: ["demo"], option: "--jobs"),
        Row(command: ["demo"], option: "--lease"),
        Row(command: ["submit", "design"], option: "--priority", negative: "-1000001"),
        Row(command: ["submit", "design"], option: "--max-attempts"),
        Row(command: ["submit", "design"], option: "--run-at"),
        Row(command: ["retry", "job-1"], option: "--attempts"),
        Row(command: ["append", "--type", "queued"], option: "--expect-version"),
        Row(command: ["append", "--type", "progress", "--job", "job-1"], option: "--attempt"),
        Row(command: ["project", "--once"], option: "--max-attempts"),
        Row(command: ["tail", "--no-follow"], option: "--after"),
        Row(command: ["tail", "--no-follow"], option: "--poll-ms"),
        Row(command: ["replay"], option: "--until-seq"),
        Row(command: ["replay"], option: "--until"),
        Row(command: ["state", "job-1"], option: "--as-of"),
        Row(command: ["bench"], option: "--events"),
        Row(command: ["bench"], option: "--replay-events"),
        Row(command: ["bench"], option: "--tasks"),
        Row(command: ["bench"], option: "--anycable-messages"),
        Row(command: ["bench"], option: "--projection-events"),
        Row(command: ["bench"], option: "--engine-jobs"),
        Row(command: ["bench"], option: "--engine-workers"),
    ]

    @Test(arguments: rows)
    func aNumericOptionOutOfRangeIsAUsageError(row: Row) async throws {
        let dbArgs = row.command.first == "bench" ? [] : ["--db", db]
        for value in row.values {
            // `--option=value`, so that "-1" reaches the option (not parsed as a flag).
            let r = try await jobledger(row.command + dbArgs + ["\(row.option)=\(value)"], in: scratch)
            #expect(r.status == 64, "\(row.option)=\(value) must be a usage error: \(r)")
            #expect(r.stderr.contains(row.option), "the message must name \(row.option): \(r)")
            #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Illegal instruction"), "\(r)")
            #expect(r.stdout.isEmpty, "\(r)")
        }
        #expect(!scratch.exists("log.sqlite"), "a refused option must not create the log")
        #expect(!scratch.exists("jobledger-demo.sqlite"))
    }

    /// A demo stages two images a job (about 50 KB of disk, half of it in the log): `--jobs` stops at 100,000 (it took
    /// 1,000,000, some 25 GB and 40 minutes), and the help says what a job costs.
    @Test func aDemoLargerThanItsRangeIsRefused() async throws {
        let r = try await jobledger(["demo", "--db", db, "--jobs", "100001"], in: scratch)
        #expect(r.status == 64 && r.stderr.contains("--jobs") && r.stderr.contains("100000"), "\(r)")
        #expect(!scratch.exists("log.sqlite"))
        let help = try await jobledger(["demo", "--help"], in: scratch)
        #expect(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("about 50 KB of disk a job, 25 KB in the log"), "\(help)")
    }

    /// A progress interval as long as the lease (each option in its range) is refused too: a
    /// written progress event is what renews the lease, so two healthy workers would sweep each
    /// other's running attempts and use up their jobs' attempts. It was accepted without a word.
    // (`--until-idle`, and a `--host` that `serve` refuses only once it runs, so that neither
    // would run on if the combination got through.)
    @Test(arguments: [["work", "--until-idle"], ["demo"], ["serve", "--insecure-no-auth", "--host", "0.0.0.0"]])
    func aProgressIntervalNotBelowTheLeaseIsAUsageError(command: [String]) async throws {
        for (lease, interval) in [("2", "2000"), ("2", "5000"), ("0.1", "250")] {
            let r = try await jobledger(command + ["--db", db, "--lease", lease, "--progress-interval-ms", interval], in: scratch)
            #expect(r.status == 64, "--lease \(lease) --progress-interval-ms \(interval) must be a usage error: \(r)")
            #expect(r.stderr.contains("--progress-interval-ms") && r.stderr.contains("--lease"), "the message must name both: \(r)")
            #expect(r.stdout.isEmpty, "\(r)")
        }
        #expect(!scratch.exists("log.sqlite"), "a refused option must not create the log")
        #expect(!scratch.exists("jobledger-demo.sqlite"))
    }

    // MARK: Options with a fixed vocabulary (exit 64)

    /// One row per option whose values are a fixed list: a value outside it is a usage error that
    /// names the option and every value it takes, before the log is opened; `--help` lists them.
    struct VocabularyRow: Sendable, CustomTestStringConvertible {
        let command: [String]
        let option: String
        let values: [String]
        var testDescription: String { "\(command.first!) \(option)" }
    }

    static let vocabularyRows: [VocabularyRow] = [
        VocabularyRow(command: ["jobs"], option: "--durability", values: ["normal", "full"]),
        VocabularyRow(command: ["jobs"], option: "--state", values: ["queued", "running", "completed", "failed", "canceled"]),
        VocabularyRow(command: ["export"], option: "--format", values: ["ndjson"]),
        VocabularyRow(command: ["project", "--once"], option: "--broadcast", values: ["hub", "anycable"]),
        VocabularyRow(command: ["project", "--once"], option: "--log-level", values: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        VocabularyRow(command: ["bench"], option: "--only", values: ["live", "group", "replay", "engine", "projections", "anycable"]),
        VocabularyRow(command: ["replay"], option: "--projection", values: ["jobs", "broadcast", "blob"]),
        VocabularyRow(command: ["append", "--job", "job-1"], option: "--type",
                      values: ["queued", "started", "progress", "lowres", "completed", "failed", "canceled"]),
    ]

    @Test(arguments: vocabularyRows)
    func aValueOutsideAFixedVocabularyIsAUsageError(row: VocabularyRow) async throws {
        for bad in ["bogus", "NORMAL", "Queued"] {
            let r = try await jobledger(row.command + ["--db", db, "\(row.option)=\(bad)"], in: scratch)
            #expect(r.status == 64, "\(row.option)=\(bad) must be a usage error: \(r)")
            #expect(r.stderr.contains(row.option), "the message must name \(row.option): \(r)")
            for v in row.values { #expect(r.stderr.contains(v), "the message must list '\(v)': \(r)") }
            #expect(r.stdout.isEmpty, "\(r)")
        }
        #expect(!scratch.exists("log.sqlite"), "a refused option must not create the log")
        let help = try await jobledger(Array(row.command.prefix(1)) + ["--help"], in: scratch)
        #expect(help.status == 0)
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")  // help wraps long lines
        #expect(flat.contains("(values: \(row.values.joined(separator: ", "))"), "\(help)")
    }

    /// The message says what is allowed, not only that the value is wrong.
    @Test func theRefusalNamesTheRange() async throws {
        let r = try await jobledger(["jobs", "--db", db, "--busy-timeout", "inf"], in: scratch)
        #expect(r.status == 64)
        #expect(r.stderr.contains("--busy-timeout must be 0…3600 seconds (got inf)"), "\(r)")
        let w = try await jobledger(["work", "--db", db, "--workers=-1"], in: scratch)
        #expect(w.stderr.contains("--workers must be 1…1024 (got -1)"), "\(w)")
        let t = try await jobledger(["submit", "design", "--db", db, "--run-at=-1"], in: scratch)
        #expect(t.status == 64)
        #expect(t.stderr.contains("--run-at must be an ISO-8601 UTC time"), "\(t)")
        // A negative number after the option, as the docs write it (not only `--option=-1`).
        let spaced = try await jobledger(["jobs", "--db", db, "--busy-timeout", "-1"], in: scratch)
        #expect(spaced.status == 64 && spaced.stderr.contains("--busy-timeout must be 0…3600 seconds (got -1)"), "\(spaced)")
        #expect(!scratch.exists("log.sqlite"))
        let low = try await jobledger(["submit", "design", "--db", db, "--priority", "-5"], in: scratch)
        #expect(low.status == 0, "\(low)")
        let history = try await jobledger(["history", low.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "--db", db], in: scratch)
        #expect(history.stdout.contains("priority -5"), "\(history)")
    }

    /// `append` of a type other than `queued` needs `--job`, and says so (exit 64) before it
    /// judges a payload it was never going to append (it said `missing field 'worker'`, exit 2).
    @Test func appendWithoutAJobSaysSoBeforeJudgingThePayload() async throws {
        let r = try await jobledger(["append", "--db", db, "--type", "started"], in: scratch)
        #expect(r.status == 64 && r.stderr.contains("--job is required for a 'started' event"), "\(r)")
        #expect(!scratch.exists("log.sqlite"))
    }

    /// `--stream-prefix` is 1…100 bytes wherever it is taken, the replay tools included.
    @Test(arguments: [["replay"], ["state", "job-1"], ["work"], ["project", "--once"]])
    func aStreamPrefixOutOfRangeIsAUsageError(command: [String]) async throws {
        for value in ["", String(repeating: "p", count: 101)] {
            let r = try await jobledger(command + ["--db", db, "--stream-prefix", value], in: scratch)
            #expect(r.status == 64 && r.stderr.contains("--stream-prefix must be 1…100 bytes"), "\(r)")
        }
    }

    /// The ends of a range are accepted: the command goes on to its next check (here: there is
    /// no log yet, exit 4), and a time at the end of year 9999 is a valid `--run-at`.
    @Test func theEndsOfEachRangeAreAccepted() async throws {
        let r = try await jobledger(["jobs", "--db", db, "--busy-timeout", "3600", "--max-payload-bytes", "16777216"], in: scratch)
        #expect(r.status == 4, "\(r)")
        let z = try await jobledger(["jobs", "--db", db, "--busy-timeout", "0", "--max-payload-bytes", "1"], in: scratch)
        #expect(z.status == 4, "\(z)")
        let s = try await jobledger(["submit", "design", "--db", db, "--run-at", "9999-12-31T23:59:59.999Z",
                                     "--priority=-1000000", "--max-attempts", "1000"], in: scratch)
        #expect(s.status == 0, "\(s)")
        let job = s.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let history = try await jobledger(["history", job, "--db", db, "--json"], in: scratch)
        #expect(history.status == 0, "\(history)")
        #expect(history.stdout.contains("9999-12-31T23:59:59.999Z"), "\(history)")
    }

    /// A point out of range — a seq past 2^53 − 1 or negative, a time before 1970 or after 9999,
    /// or neither — gets one and the same message, naming both forms and both ranges, whichever
    /// form was typed; `diff`'s `@POINT` says the same of what follows the `@`.
    @Test func anAsOfOutOfRangeHasOneMessage() async throws {
        let form = "a seq, 0…9007199254740991, or an ISO-8601 UTC time such as 2026-11-29T12:01:00Z, within 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z"
        for value in ["9007199254740992", "99999999999999999999", "-1", "1969-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "soon"] {
            let r = try await jobledger(["state", "job-1", "--db", db, "--as-of=\(value)"], in: scratch)
            #expect(r.status == 64, "\(r)")
            #expect(r.stderrLines.first == "Error: --as-of must be \(form) (got '\(value)')", "\(r)")
            let d = try await jobledger(["diff", "--db", db, "@\(value)", "@1"], in: scratch)
            expectRefusal(d, exit: 2, mentions: ["'@\(value)': after @ comes \(form)"])
        }
        #expect(!scratch.exists("log.sqlite"))
    }
}
