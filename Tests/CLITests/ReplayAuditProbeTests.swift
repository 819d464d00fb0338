import Foundation
import JobLedger
import JobLedgerTestSupport
import Testing

/// From an auditor's probe of replay: `replay --check` said "ok" for a jobs table that had
/// never taken in an event, and printed text with `--json`; `diff` could not name a log whose
/// path holds an `@`.
@Suite struct ReplayAuditProbeTests {
    @Test func checkSaysHowFarTheTableHasTakenTheLogAndSpeaksJSON() async throws {
        let scratch = Scratch()
        for _ in 0..<2 { #expect(try await jobledger(["submit", "design", "--db", "l.sqlite"], in: scratch).status == 0) }
        let text = try await jobledger(["replay", "--check", "--db", "l.sqlite"], in: scratch)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("ok: the stored jobs table (0 jobs, checkpoint seq 0) equals the one rebuilt from the log up to seq 0; "
                                     + "it has not taken in the 2 events after it yet (the log goes on to seq 2)"), "\(text.stdout)")
        let json = try await jobledger(["replay", "--check", "--json", "--db", "l.sqlite"], in: scratch)
        let v = try JSONValue(parsing: json.stdout)
        #expect(json.status == 0 && v["ok"] == .bool(true) && v["checkpoint"]?.intValue == 0 && v["head"]?.intValue == 2
                && v["not_taken_in"]?.intValue == 2 && v["differences"] == .array([]), "\(json.stdout)")
        #expect(try await jobledger(["project", "--once", "--db", "l.sqlite"], in: scratch).status == 0)
        let caughtUp = try await jobledger(["replay", "--check", "--db", "l.sqlite"], in: scratch)
        #expect(caughtUp.stdout == "ok: the stored jobs table (2 jobs, checkpoint seq 2) equals the one rebuilt from the log\n", "\(caughtUp.stdout)")
    }

    @Test func diffTakesALogWhosePathHoldsAnAt() async throws {
        let scratch = Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("at@dir"), withIntermediateDirectories: true)
        #expect(try await jobledger(["submit", "design", "--db", "at@dir/log.sqlite"], in: scratch).status == 0)
        let r = try await jobledger(["diff", "at@dir/log.sqlite", "at@dir/log.sqlite@0"], in: scratch)
        #expect(r.status == 1, "\(r)")  // as diff(1): 1 when the sides differ
        #expect(r.stdout.contains("left: at@dir/log.sqlite as of the end of the log (1 job)"), "\(r.stdout)")
        #expect(r.stdout.contains("only on the left"), "\(r.stdout)")
    }

    @Test func effectsOfOneProjectionAndAPointPastTheHeadAreSaid() async throws {
        let scratch = Scratch()
        // No failed attempt: a job that failed all three (0.2³, once in 125 runs: a fresh-clone CI run met it) made no upload.
        #expect(try await jobledger(["demo", "--jobs", "1", "--fail-rate", "0", "--db", "log.sqlite"], in: scratch).status == 0)
        let blob = try await jobledger(["replay", "--db", "log.sqlite", "--effects", "--projection", "blob"], in: scratch)
        let kinds = Set(blob.stdout.split(separator: "\n").map { $0.split(separator: "\t")[1] })
        #expect(blob.status == 0 && kinds == ["upload"], "--projection blob with --effects showed \(kinds)")
        let all = try await jobledger(["replay", "--db", "log.sqlite", "--effects"], in: scratch)
        #expect(Set(all.stdout.split(separator: "\n").map { $0.split(separator: "\t")[1] }) == ["upload", "broadcast"])
        let past = try await jobledger(["replay", "--db", "log.sqlite", "--until-seq", "99999"], in: scratch)
        #expect(past.status == 0 && past.stderr.hasPrefix("note: seq 99999 is past the log's head (seq ")
                && past.stderr.contains("): this is the log as it is now\n"), "\(past)")
    }
}
