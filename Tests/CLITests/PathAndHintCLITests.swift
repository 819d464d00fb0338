import Foundation
import JobLedgerTestSupport
import Testing

/// Paths that name nothing, an environment path that is not UTF-8, and hints that name the
/// wrong fix, found by an outside audit of the CLI.
@Suite struct PathAndHintCLITests {
    /// `--blobs ""` published into the working folder (and `blobs list` then found none);
    /// `--output ""` and `--into ""` failed as storage errors (exit 6); `JOBLEDGER_DB=" "` made
    /// a log named ` `. Each is a usage error naming its option, and nothing is written.
    @Test func blankPathsAreUsageErrors() async throws {
        let scratch = Scratch()
        let submit = try await jobledger(["submit", "design", "--db", "b.sqlite"], in: scratch)
        try #require(submit.status == 0, "\(submit)")
        let runs: [(args: [String], env: [String: String], names: String)] = [
            (["work", "--db", "b.sqlite", "--until-idle", "--blobs", ""], [:], "--blobs must not be empty"),
            (["work", "--db", "b.sqlite", "--until-idle", "--blobs", "  "], [:], "--blobs is only white space"),
            (["export", "--db", "b.sqlite", "--output", ""], [:], "--output must not be empty"),
            (["replay", "--db", "b.sqlite", "--into", " "], [:], "--into is only white space"),
            (["submit", "design"], ["JOBLEDGER_DB": " "], "JOBLEDGER_DB is only white space"),
        ]
        for run in runs {
            let r = try await jobledger(run.args, in: scratch, environment: run.env)
            #expect(r.status == 64 && r.stderr.contains(run.names), "\(r)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted()
        #expect(left == ["b.sqlite"], "nothing else was written: \(left)")
        let jobs = try await jobledger(["jobs", "--db", "b.sqlite"], in: scratch)
        #expect(jobs.stdout.contains("queued"), "the job was not worked: \(jobs)")
    }

    /// Two `JOBLEDGER_DB` values that differ only in bytes that are not UTF-8 were both read as
    /// the same repaired path (U+FFFD) and went into one log; `--db` refuses such bytes.
    @Test func aJOBLEDGER_DBThatIsNotUTF8IsRefused() async throws {
        let scratch = Scratch()
        let r = try await jobledgerInShell("submit design", setup: "export JOBLEDGER_DB=\"$(printf '\\376.sqlite')\"; ", in: scratch)
        #expect(r.status == 64 && r.stderr.contains("JOBLEDGER_DB is not valid UTF-8: byte 0xFE at byte offset 0"), "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty, "no log was made")
    }

    /// An import line whose payload is over the log's limit was told to stage its bytes as an
    /// asset: the event is already written in the export; the fix is the limit.
    @Test func anImportedPayloadOverTheLimitNamesTheFlagThatRaisesIt() async throws {
        let scratch = Scratch()
        let big = String(repeating: "a", count: 70_000)
        let line = #"{"job_id":"j1","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design","input":{"p":"\#(big)"}}}"#
        try (line + "\n").write(to: scratch.url.appendingPathComponent("big.ndjson"), atomically: true, encoding: .utf8)
        let refused = try await jobledger(["import", "--db", "i.sqlite", "big.ndjson"], in: scratch)
        #expect(refused.status == 2 && refused.stderr.contains("(--max-payload-bytes raises the limit, up to 16777216)"), "\(refused)")
        #expect(!refused.stderr.contains("stage large bytes as an asset"), "\(refused)")
        let taken = try await jobledger(["import", "--db", "i.sqlite", "--max-payload-bytes", "100000", "big.ndjson"], in: scratch)
        #expect(taken.status == 0, "\(taken)")
    }

    /// `blobs list` with a mistyped `--db` listed every blob as not in the log, exit 0, without a
    /// word; it still lists the store (which may outlive its log), and says the log is not there.
    @Test func blobsListWithoutALogSaysSo() async throws {
        let scratch = Scratch()
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("nosuch.sqlite.blobs"), withIntermediateDirectories: true)
        let r = try await jobledger(["blobs", "list", "--db", "nosuch.sqlite"], in: scratch)
        #expect(r.status == 0 && r.stderr.contains("no JobLedger log at nosuch.sqlite (check --db or JOBLEDGER_DB)"), "\(r)")
    }

    /// `cancel --reason ""` recorded a blank reason, shown later as `()`; a usage error now,
    /// and nothing is written.
    @Test func aBlankCancelReasonIsAUsageError() async throws {
        let scratch = Scratch()
        let submit = try await jobledger(["submit", "design", "--db", "c.sqlite"], in: scratch)
        let job = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for reason in ["", "  "] {
            let r = try await jobledger(["cancel", job, "--reason", reason, "--db", "c.sqlite"], in: scratch)
            #expect(r.status == 64 && r.stderr.contains("--reason is"), "\(r)")
        }
        let jobs = try await jobledger(["jobs", "--db", "c.sqlite"], in: scratch)
        #expect(jobs.stdout.contains("queued"), "\(jobs)")
    }

    /// `work --max-payload-bytes 50` had every claim refused (a `started` event is larger) and
    /// tried again twenty times a second, for ever; a usage error now, for `serve` with workers too.
    @Test func aPayloadLimitBelowTheEnginesOwnEventsIsRefusedForWorkers() async throws {
        let scratch = Scratch()
        _ = try await jobledger(["submit", "design", "--db", "m.sqlite"], in: scratch)
        let work = try await jobledger(["work", "--db", "m.sqlite", "--until-idle", "--max-payload-bytes", "50"], in: scratch)
        #expect(work.status == 64 && work.stderr.contains("--max-payload-bytes (50) must be at least 8192 for a command that runs workers"), "\(work)")
        let serve = try await jobledger(["serve", "--db", "m.sqlite", "--insecure-no-auth", "--workers", "1", "--max-payload-bytes", "8191"], in: scratch)
        #expect(serve.status == 64 && serve.stderr.contains("must be at least 8192"), "\(serve)")
        // Other commands keep the whole range.
        let jobs = try await jobledger(["jobs", "--db", "m.sqlite", "--max-payload-bytes", "50"], in: scratch)
        #expect(jobs.status == 0, "\(jobs)")
    }
}
