import Foundation
import Testing

/// `--db` values that cannot name a log file are usage errors (exit 64), said before anything is
/// opened or created. An empty path reached SQLite, which takes it for a temporary database
/// (writers: "could not activate WAL Mode at path: ", exit 6); a path ending in `/` was created
/// as a file by writers, which readers then refused (ENOTDIR, exit 6).
@Suite(.timeLimit(.minutes(5)))
struct LogPathTests {
    let scratch = Scratch()

    static let commands: [[String]] = [
        ["submit", "design"], ["append", "--type", "queued", "--payload", #"{"kind":"design"}"#], ["work", "--until-idle"],
        ["jobs"], ["history", "job-1"], ["verify"], ["tail", "--no-follow"], ["cancel", "job-1"], ["demo", "--jobs", "1", "--no-effects"],
    ]

    @Test(arguments: commands)
    func anEmptyDBIsAUsageError(command: [String]) async throws {
        let r = try await jobledger(command + ["--db", ""], in: scratch)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains("--db must not be empty"), "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty, "nothing may be created")
    }

    @Test(arguments: commands)
    func aDBEndingInASlashIsAUsageError(command: [String]) async throws {
        for db in ["logs/", scratch.path("adirx") + "/"] {
            let r = try await jobledger(command + ["--db", db], in: scratch)
            #expect(r.status == 64, "\(r)")
            #expect(r.stderr.contains("--db must name the log file, not a folder (it ends in '/')") && r.stderr.contains("\(db)jobledger.sqlite"), "\(r)")
            #expect(r.stdout.isEmpty, "\(r)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty, "nothing may be created")
    }

    /// `--db -` made a log file named `-` (where `-` is standard input for `import`): a usage
    /// error, before anything is made; `./-` is that file, if it is what is meant.
    @Test(arguments: commands)
    func aDBOfADashIsAUsageError(command: [String]) async throws {
        let r = try await jobledger(command + ["--db", "-"], in: scratch)
        #expect(r.status == 64 && r.stderr.contains("--db - would be a log file named '-'"), "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty, "nothing may be created")
    }

    /// The variable is checked as `--db` is; an empty one counts as unset (the default log).
    @Test func jobledgerDBIsCheckedToo() async throws {
        let r = try await jobledger(["submit", "design"], in: scratch, environment: ["JOBLEDGER_DB": "logs/"])
        #expect(r.status == 64 && r.stderr.contains("JOBLEDGER_DB must name the log file"), "\(r)")
        #expect(!scratch.exists("logs"))
        let unset = try await jobledger(["submit", "design"], in: scratch, environment: ["JOBLEDGER_DB": ""])
        #expect(unset.status == 0, "\(unset)")
        #expect(scratch.exists("jobledger.sqlite"))
    }

    /// A `--db` that starts with `file:` is a path like any other: SQLite (built with
    /// `SQLITE_USE_URI`, as Debian's is) read it as a URI when writing, so `submit --db
    /// file:lit.sqlite` wrote to `lit.sqlite` while `jobs` read `file:lit.sqlite`. `:memory:` is
    /// a file of that name too (it was an in-memory database: "could not activate WAL Mode").
    @Test func aDBNamedLikeAnSQLiteURIIsThatFile() async throws {
        for db in ["file:lit.sqlite", ":memory:"] {
            let first = try await jobledger(["submit", "design", "--db", db], in: scratch)
            #expect(first.status == 0 && first.stderr.contains("created a new log"), "\(db): \(first)")
            let second = try await jobledger(["submit", "design", "--db", db], in: scratch)
            #expect(second.status == 0, "\(db): \(second)")
            let jobs = try await jobledger(["jobs", "--db", db, "--json"], in: scratch)
            let ids = [first.stdout, second.stdout].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(jobs.status == 0 && ids.allSatisfy { !$0.isEmpty && jobs.stdout.contains($0) }, "\(db): \(jobs)")
            #expect(scratch.exists(db))
        }
        #expect(!scratch.exists("lit.sqlite"), "nothing beside the named file")
    }
}
