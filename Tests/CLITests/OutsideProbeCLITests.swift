import Foundation
import JobLedger
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// Findings of a probe of the CLI from outside: a help topic that does not exist, a repeated
/// cancel, waits on delayed jobs, and what a few messages and help texts said.
@Suite(.timeLimit(.minutes(5)))
struct OutsideProbeCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    /// `help nope` printed the root help and exited 0.
    @Test func helpOfAnUnknownSubcommandIsAUsageError() async throws {
        expectRefusal(try await jobledger(["help", "nope"], in: scratch), exit: 64, mentions: ["unknown subcommand 'nope' of jobledger"])
        expectRefusal(try await jobledger(["help", "projections", "nope"], in: scratch), exit: 64,
                      mentions: ["unknown subcommand 'nope' of jobledger projections"])
        let known = try await jobledger(["help", "projections", "retry"], in: scratch)
        #expect(known.status == 0 && known.stdout.contains("USAGE: jobledger projections retry"), "\(known)")
    }

    /// A cancel of a job canceled already records nothing and exits 0 (as the API answers 200
    /// again), but says so, with when and why: the new reason was dropped without a word.
    @Test func cancelOfACanceledJobSaysItWasCanceledAlready() async throws {
        let id = try await jobledger(["submit", "design", "--db", db], in: scratch).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let first = try await jobledger(["cancel", id, "--db", db, "--reason", "first reason"], in: scratch)
        #expect(first.status == 0 && first.stdout == "\(id): canceled\n" && first.stderr.isEmpty, "\(first)")
        let before = try await snapshot(db, in: scratch)
        let again = try await jobledger(["cancel", id, "--db", db, "--reason", "second reason"], in: scratch)
        #expect(again.status == 0 && again.stdout == "\(id): canceled\n", "\(again)")
        #expect(again.stderrLines.count == 1, "\(again)")
        let line = again.stderrLines.first ?? ""
        #expect(line.hasPrefix("jobledger: job \(id) was already canceled at ") && line.contains("(first reason); nothing was written")
                && line.hasSuffix("the reason given now was not recorded"), "\(again)")
        #expect(try await snapshot(db, in: scratch) == before)
    }

    /// `work --until-idle` with only a delayed job waited in silence (up to its run-at), and
    /// interrupted, advised the same command without saying it would wait again.
    @Test func workUntilIdleSaysItWaitsForDelayedJobs() async throws {
        let submitted = try await jobledger(["submit", "design", "--db", db, "--run-at", "2099-01-01T00:00:00Z"], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let (p, err) = try startWorker(["--db", db, "--until-idle", "--fail-rate", "0"])
        let waits = await waitForLine(containing: "delayed", in: err.fileHandleForReading)
        #expect(waits == "jobledger: --until-idle waits for 1 delayed design job, the next due at 2099-01-01T00:00:00.000Z (Ctrl-C stops)",
                "\(waits ?? "nothing said")")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted:", in: err.fileHandleForReading)
        await waitForExit(p, "work --until-idle after SIGINT")
        #expect(p.terminationStatus == 130)
        #expect(said?.contains("1 design job not finished (queued, or back in the queue), 1 of them delayed until 2099-01-01T00:00:00.000Z at the earliest") == true
                && said?.hasSuffix("(it waits until the delayed ones are due)") == true, "\(said ?? "nothing said")")
    }

    /// `work --until-idle` ended with its ledger still open (a ticker held it): the run stayed in
    /// an un-checkpointed -wal beside the file, and a copy of the file alone lost it.
    @Test func workUntilIdleClosesTheLog() async throws {
        for _ in 0..<3 { #expect(try await jobledger(["submit", "design", "--db", db], in: scratch).status == 0) }
        let r = try await jobledger(["work", "--until-idle", "--db", db, "--fail-rate", "0"], in: scratch)
        #expect(r.status == 0, "\(r)")
        for suffix in ["-wal", "-shm"] { #expect(!scratch.exists("log.sqlite" + suffix), "\(suffix) left beside the log") }
    }

    /// `--storage-wait 0` said "0 ms" where every other value says seconds.
    @Test func aStorageWaitOfZeroIsSaidInSeconds() async throws {
        let r = try await jobledger(["submit", "design", "--db", "new.sqlite", "--storage-wait", "0"], in: scratch,
                                    environment: ["JOBLEDGER_MAX_PAGE_COUNT": "1"])
        #expect(r.status == 6 && r.stderr.contains("lasted longer than --storage-wait 0 s, stopping"), "\(r)")
    }

    /// A folder that does not exist listed as "0 blobs" without a word.
    @Test func blobsListWarnsOfAFolderThatDoesNotExist() async throws {
        _ = try await logWithQueuedJob(db, in: scratch)
        let missing = scratch.path("no-such-folder")
        let r = try await jobledger(["blobs", "list", "--db", db, "--blobs", missing], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stderrLines.last == "jobledger: warning: the folder \(missing) does not exist (check --blobs)", "\(r)")
    }

    /// Every range README says `--help` shows is there (the help text wraps lines: compared
    /// with runs of white space as one space).
    @Test(arguments: [
        (["replay"], ["--until-seq <until-seq> Stop after this seq, 0…9007199254740991", "1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z"]),
        (["tail"], ["Start after this seq, 0…9007199254740991"]),
        (["state"], ["A seq, 0…9007199254740991, or a time (ISO-8601 UTC), 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z"]),
        (["blobs", "prune"], ["since 1970), 1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z", "Why, for the record, 1…500 bytes"]),
        (["projections", "retry"], ["blob, broadcast, status-cache, or one an app registers"]),
    ])
    func helpShowsTheRanges(command: [String], shows: [String]) async throws {
        let r = try await jobledger(command + ["--help"], in: scratch)
        #expect(r.status == 0, "\(r)")
        let text = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for s in shows { #expect(text.contains(s), "\(command) --help should show \(s): \(text)") }
    }
}
