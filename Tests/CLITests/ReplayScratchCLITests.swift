import Foundation
import Testing

/// `replay --into PATH` writes a new scratch file or nothing: a write that fails part way (a
/// full disk; here the process's file-size limit) leaves no empty or half-made file that the
/// next try would refuse as "already exists", under PATH or under its staging name.
@Suite struct ReplayScratchCLITests {
    @Test func aScratchFileThatCannotBeWrittenIsNotLeftBehind() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        // 512 bytes: the scratch file can be created, but its first transaction fails.
        let failed = try await jobledgerInShell("replay --db log.sqlite --into as-of.sqlite", setup: "ulimit -f 1; ", in: scratch)
        #expect(failed.status == 6, "\(failed)")
        #expect(failed.stderr.contains("cannot write as-of.sqlite"), "\(failed)")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path("")).filter { $0.contains("as-of") }
        #expect(left.isEmpty, "an unfinished scratch file was left behind: \(left) \(failed)")

        // The cause gone, the same command writes the file.
        let again = try await jobledger(["replay", "--db", "log.sqlite", "--into", "as-of.sqlite"], in: scratch)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("wrote 1 job and"), "\(again)")
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
