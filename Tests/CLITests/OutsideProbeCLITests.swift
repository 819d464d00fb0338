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

    /// `work --until-idle` ended with its ledger still open (a ticker held it): the run stayed in
    /// an un-checkpointed -wal beside the file, and a copy of the file alone lost it.
    @Test func workUntilIdleClosesTheLog() async throws {
        for _ in 0..<3 { #expect(try await jobledger(["submit", "design", "--db", db], in: scratch).status == 0) }
        let r = try await jobledger(["work", "--until-idle", "--db", db, "--fail-rate", "0"], in: scratch)
        #expect(r.status == 0, "\(r)")
        for suffix in ["-wal", "-shm"] { #expect(!scratch.exists("log.sqlite" + suffix), "\(suffix) left beside the log") }
    }
}
