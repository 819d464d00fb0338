import Foundation
import JobLedgerTestSupport
import Testing

/// `work --until-idle` ends with one line on stderr (where its per-event lines go; stdout stays
/// free for scripts): what its attempts came to and how long it took. It ended without one.
@Suite struct WorkSummaryTests {
    static func summary(_ r: CLIResult) -> String? { r.stderrLines.last { $0.hasPrefix("jobledger: idle after ") } }

    /// The summary with its time (which varies) cut out.
    static func counts(_ line: String?) -> String? {
        guard let line, let colon = line.range(of: " s: ") else { return nil }
        let seconds = line[line.index(line.startIndex, offsetBy: "jobledger: idle after ".count)..<colon.lowerBound]
        return Double(seconds) != nil && seconds.contains(".") ? String(line[colon.upperBound...]) : nil
    }

    @Test func theRunEndsWithWhatItCameToAndHowLong() async throws {
        let scratch = Scratch()
        for _ in 0..<2 { #expect(try await jobledger(["submit", "design", "--db", "w.sqlite"], in: scratch).status == 0) }
        let run = try await jobledger(["work", "--until-idle", "--fail-rate", "0", "--workers", "1", "--db", "w.sqlite"], in: scratch)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(Self.counts(Self.summary(run)) == "2 jobs completed, 0 failed, 0 canceled (0 attempts retried)", "\(run)")
        // After the lines of the events it sums up.
        #expect(run.stderrLines.firstIndex { $0.hasSuffix(" completed") }! < run.stderrLines.firstIndex { $0.hasPrefix("jobledger: idle after ") }!, "\(run)")

        // Failures: one retried attempt, then the job failed for good.
        #expect(try await jobledger(["submit", "design", "--max-attempts", "2", "--db", "f.sqlite"], in: scratch).status == 0)
        let failing = try await jobledger(["work", "--until-idle", "--fail-rate", "1", "--workers", "1", "--db", "f.sqlite"], in: scratch)
        #expect(failing.status == 0, "\(failing)")
        #expect(Self.counts(Self.summary(failing)) == "0 jobs completed, 1 failed, 0 canceled (1 attempt retried)", "\(failing)")

        // Nothing to do: said as well.
        let idle = try await jobledger(["work", "--until-idle", "--db", "f.sqlite"], in: scratch)
        #expect(Self.counts(Self.summary(idle)) == "0 jobs completed, 0 failed, 0 canceled (0 attempts retried)", "\(idle)")
    }

    /// `--quiet`: no line per event (a backlog of 200,000 jobs wrote 400,000 of them, and no
    /// option quieted them), the outcomes still counted in the summary.
    @Test func quietLeavesOutTheEventLinesNotTheSummary() async throws {
        let scratch = Scratch()
        for _ in 0..<3 { #expect(try await jobledger(["submit", "design", "--db", "q.sqlite"], in: scratch).status == 0) }
        let run = try await jobledger(["work", "--until-idle", "--quiet", "--fail-rate", "0", "--db", "q.sqlite"], in: scratch)
        #expect(run.status == 0, "\(run)")
        #expect(!run.stderrLines.contains { $0.hasPrefix("  ") }, "no event line: \(run)")
        #expect(run.stderrLines.count == 2 && run.stderrLines[0].hasPrefix("jobledger: worker "), "\(run)")
        #expect(Self.counts(Self.summary(run)) == "3 jobs completed, 0 failed, 0 canceled (0 attempts retried)", "\(run)")
    }
}
