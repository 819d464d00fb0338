import Foundation
@testable import JobLedgerSQLite
import Testing

/// A run of `export --output` or `replay --into` killed with SIGKILL leaves its staging file
/// (`.NAME.partial-PID`, and a journal) beside PATH; nothing removed them, however many runs
/// followed. The next run for the same PATH removes those of processes that are gone.
@Suite struct StagedFileLeftoverTests {
    @Test func leftoversOfGoneProcessesAreRemovedAndOthersKept() throws {
        let dir = TempDir()
        let done = Process()
        done.executableURL = URL(fileURLWithPath: "/bin/true")
        try done.run()
        done.waitUntilExit()
        let gone = done.processIdentifier
        let path = dir.path("out.ndjson")
        let left = [dir.path(".out.ndjson.partial-\(gone)"), dir.path(".out.ndjson.partial-\(gone)-journal")]
        let running = dir.path(".out.ndjson.partial-1")  // pid 1 is always there
        let other = dir.path(".other.ndjson.partial-\(gone)")
        for f in left + [running, other] { FileManager.default.createFile(atPath: f, contents: Data("x".utf8)) }
        let staging = try StagedFile.begin(path)
        for f in left { #expect(!FileManager.default.fileExists(atPath: f), "\(f)") }
        #expect(FileManager.default.fileExists(atPath: running))
        #expect(FileManager.default.fileExists(atPath: other))
        #expect(FileManager.default.fileExists(atPath: staging))
        try StagedFile.publish(staging, as: path)
        #expect(FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: staging))
    }
}
