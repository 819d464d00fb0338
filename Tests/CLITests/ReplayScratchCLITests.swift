import Foundation
import Testing

/// `replay --into PATH` writes a new scratch file or nothing: a write that fails part way (a
/// full disk; here SQLite cannot make its journal beside the file) leaves no empty or half-made
/// file that the next try would refuse as "already exists".
@Suite struct ReplayScratchCLITests {
    @Test func aScratchFileThatCannotBeWrittenIsNotLeftBehind() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        // A folder where SQLite puts its rollback journal: the scratch file can be created, but
        // its first transaction fails.
        try FileManager.default.createDirectory(atPath: scratch.path("as-of.sqlite-journal"), withIntermediateDirectories: false)

        let failed = try await jobledger(["replay", "--db", "log.sqlite", "--into", "as-of.sqlite"], in: scratch)
        #expect(failed.status == 6, "\(failed)")
        #expect(failed.stderr.contains("cannot write as-of.sqlite"), "\(failed)")
        #expect(!scratch.exists("as-of.sqlite"), "an unfinished scratch file was left behind: \(failed)")

        // The cause gone, the same command writes the file.
        try FileManager.default.removeItem(atPath: scratch.path("as-of.sqlite-journal"))
        let again = try await jobledger(["replay", "--db", "log.sqlite", "--into", "as-of.sqlite"], in: scratch)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("wrote 1 jobs and"), "\(again)")
    }

    @Test func anExistingFileIsStillRefusedAndKept() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: scratch.path("taken.sqlite")))
        let r = try await jobledger(["replay", "--db", "log.sqlite", "--into", "taken.sqlite"], in: scratch)
        expectRefusal(r, exit: 6, mentions: ["taken.sqlite already exists"])
        #expect(try fileBytes(scratch.path("taken.sqlite")) == Data("mine".utf8))
    }
}
