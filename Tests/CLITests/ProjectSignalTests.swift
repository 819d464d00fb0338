import Foundation
import JobLedgerTestSupport
import Testing

/// `project` (live) stops on SIGTERM saying so, as `work` and `serve` do (Operations.md §
/// Signals): it stopped without a word.
@Suite struct ProjectSignalTests {
    @Test func projectSaysItIsStoppingOnSIGTERM() async throws {
        let scratch = Scratch()
        let submitted = try await jobledger(["submit", "design", "--db", "log.sqlite", "--input", #"{"prompt":"p"}"#], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let out = childPipe()
        let project = try startWithOutput(on: out, ["project", "--db", "log.sqlite", "--no-effects"], in: scratch)
        let keeping = await waitForLine(containing: "keeping", in: out.fileHandleForReading)
        #expect(keeping != nil, "project never said it runs")
        kill(project.processIdentifier, SIGTERM)
        let stopping = await waitForLine(containing: "stopping:", in: out.fileHandleForReading)
        #expect(stopping?.contains("a second Ctrl-C (or SIGTERM) stops at once") == true, "\(String(describing: stopping))")
        await waitForExit(project, "project after SIGTERM")
        #expect(project.terminationStatus == 0)
    }
}
