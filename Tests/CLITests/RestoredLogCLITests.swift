import Foundation
import JobLedgerTestSupport
import Testing

/// The documented backup and restore (`export`, then `import` into a new log): the restored log
/// owed its history's uploads for good (an export carries no asset bytes), so every later
/// `work --until-idle` exited 7 and `projections --check` failed, with advice (a re-drive) that
/// could not help. The restored log's blob projection starts after the imported events.
@Suite struct RestoredLogCLITests {
    @Test func aRestoredLogOwesNothingForItsHistory() async throws {
        let scratch = Scratch()
        let demo = try await jobledger(["demo", "--jobs", "2", "--fail-rate", "0", "--db", "a.sqlite"], in: scratch)
        try #require(demo.status == 0, "\(demo)")
        let export = try await jobledger(["export", "--db", "a.sqlite", "--output", "a.ndjson"], in: scratch)
        try #require(export.status == 0, "\(export)")
        let restore = try await jobledger(["import", "--db", "b.sqlite", "a.ndjson"], in: scratch)
        try #require(restore.status == 0, "\(restore)")
        let work = try await jobledger(["work", "--db", "b.sqlite", "--until-idle"], in: scratch)
        #expect(work.status == 0, "\(work)")
        #expect(!work.stderr.contains("dead"), "\(work.stderr)")
        let check = try await jobledger(["projections", "--check", "--db", "b.sqlite"], in: scratch)
        #expect(check.status == 0, "\(check)")
        // A job of its own, after the restore, is worked and published as usual.
        let submit = try await jobledger(["submit", "design", "--db", "b.sqlite"], in: scratch)
        try #require(submit.status == 0, "\(submit)")
        let again = try await jobledger(["work", "--db", "b.sqlite", "--until-idle", "--fail-rate", "0"], in: scratch)
        #expect(again.status == 0 && again.stderr.contains("1 job completed"), "\(again)")
        let blobs = try await jobledger(["blobs", "list", "--db", "b.sqlite", "--json"], in: scratch)
        let job = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(blobs.status == 0 && blobs.stdout.contains("jobs/\(job)/"), "\(blobs)")
    }
}
