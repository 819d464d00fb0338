import Foundation
import Testing

/// A `--db` that is a symlink loop (a → b → a) is named as one, with the system's reason
/// (ELOOP), by every kind of command: the ones that read, the ones that write and create, and
/// the ones that write only to an existing log. It used to read as a permission problem
/// ("check its permissions"), as SQLite's "unable to open database file", or as "no JobLedger
/// log", depending on the command. Nothing is created or changed.
@Suite struct SymlinkLoopTests {
    let scratch = Scratch()

    func loop() throws -> String {
        try FileManager.default.createSymbolicLink(atPath: scratch.path("a.sqlite"), withDestinationPath: "b.sqlite")
        try FileManager.default.createSymbolicLink(atPath: scratch.path("b.sqlite"), withDestinationPath: "a.sqlite")
        return scratch.path("a.sqlite")
    }

    @Test(arguments: [["verify"], ["jobs"], ["export"], ["digest"], ["append", "--type", "queued", "--payload", "{\"kind\":\"design\"}"],
                      ["submit", "design"], ["projections", "rebuild"], ["cancel", "job-1"], ["project", "--once", "--no-effects"]])
    func aSymlinkLoopIsNamedAsOne(_ command: [String]) async throws {
        let db = try loop()
        let r = try await jobledger(command + ["--db", db], in: scratch)
        expectRefusal(r, exit: 6, mentions: ["cannot open \(db)", "a symlink loop (ELOOP: Too many levels of symbolic links)", "check --db"])
        #expect(!r.stderr.contains("permission"), "\(r)")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { !$0.hasPrefix("io-") }.sorted()
        #expect(left == ["a.sqlite", "b.sqlite"], "nothing may be created beside the loop")
    }

    /// The NDJSON file of an import, too: its reason, not "no such file".
    @Test func anImportFileThatIsALoopIsNamedAsOne() async throws {
        let file = try loop()
        let r = try await jobledger(["import", "--db", scratch.path("log.sqlite"), file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["cannot read \(file): a symlink loop (ELOOP"])
        #expect(!scratch.exists("log.sqlite"))
    }

    /// A `--db` that is a symlink to a log: its -wal is read beside the target (where SQLite
    /// keeps it), while the log keeps the path given, so its blob folder stays `<link>.blobs`
    /// for every command (a build that opened the log at its target moved the folder under
    /// `work`, and `blobs list` then looked beside the link).
    @Test func aSymlinkedLogKeepsItsPathAndItsBlobFolder() async throws {
        try FileManager.default.createDirectory(atPath: scratch.path("real"), withIntermediateDirectories: true)
        #expect(try await jobledger(["submit", "design", "--db", "real/log.sqlite"], in: scratch).status == 0)
        try FileManager.default.createSymbolicLink(atPath: scratch.path("link.sqlite"), withDestinationPath: "real/log.sqlite")
        let work = try await jobledger(["work", "--db", "link.sqlite", "--until-idle", "--fail-rate", "0"], in: scratch)
        #expect(work.status == 0, "\(work)")
        #expect(scratch.exists("link.sqlite.blobs") && !scratch.exists("real/log.sqlite.blobs"))
        let list = try await jobledger(["blobs", "list", "--db", "link.sqlite"], in: scratch)
        #expect(list.status == 0 && list.stdout.contains("final-"), "\(list)")
        let verify = try await jobledger(["verify", "--db", "link.sqlite"], in: scratch)
        #expect(verify.status == 0 && verify.stdout.hasPrefix("ok: "), "\(verify)")
    }
}
