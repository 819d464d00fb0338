import Foundation
import JobLedgerTestSupport
import Testing

/// `jobledger projections` exited 0 with dead letters in the outbox: a script or a monitor could
/// not tell that broadcasts had been given up on. `--check` exits 1 then, saying what is wrong
/// and what to do, as `verify` and `replay --check` fail.
@Suite struct ProjectionsCheckCLITests {
    let scratch = Scratch()

    /// The recorded incident: 10 broadcasts dead after the endpoint answered 503.
    func incidentLog() throws -> String {
        let db = scratch.path("incident.sqlite")
        try FileManager.default.copyItem(at: FixtureGoldenTests.logs.appendingPathComponent("incident-broadcast-down.sqlite"),
                                         to: URL(fileURLWithPath: db))
        return db
    }

    @Test func deadItemsFailTheCheck() async throws {
        let db = try incidentLog()
        // Without --check, the table alone, exit 0, as before.
        let plain = try await jobledger(["projections", "--db", db], in: scratch)
        #expect(plain.status == 0 && plain.stderr.isEmpty, "\(plain)")

        let json = try await jobledger(["projections", "--json", "--db", db], in: scratch)
        for (args, report) in [(["projections", "--check"], plain.stdout), (["projections", "status", "--check", "--json"], json.stdout)] {
            let r = try await jobledger(args + ["--db", db], in: scratch)
            #expect(r.status == 1, "\(r)")
            #expect(r.stdout == report, "the same report as without --check: \(r)")
            #expect(r.stderrLines == ["jobledger: check: broadcast has 10 dead items (last error: HTTP 503 from the broadcast endpoint); "
                                      + "nothing retries them: fix the cause, then `jobledger projections retry broadcast --db \(db)`"], "\(r)")
        }

        // Re-driven, the items are pending again with no error yet: work in progress, no failure.
        let retry = try await jobledger(["projections", "retry", "broadcast", "--db", db], in: scratch)
        #expect(retry.status == 0, "\(retry)")
        let redriven = try await jobledger(["projections", "--check", "--db", db], in: scratch)
        #expect(redriven.status == 0 && redriven.stderr.isEmpty, "\(redriven)")
    }

    /// Items still pending whose last try failed: the sink is failing now.
    @Test func aFailingSinkFailsTheCheck() async throws {
        let db = scratch.path("failing.sqlite")
        try await logWithCompletedJob(db, in: scratch)
        // Nothing listens on port 1: every broadcast fails, and stays pending for its next try.
        let anycable = ["ANYCABLE_BROADCAST_URL": "http://127.0.0.1:1/_broadcast", "ANYCABLE_BROADCAST_KEY": "none"]
        let project = try await jobledger(["project", "--once", "--db", db, "--broadcast", "anycable"], in: scratch, environment: anycable)
        #expect(project.status == 7, "effects still owed: \(project)")
        let r = try await jobledger(["projections", "--check", "--db", db], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stderrLines.count == 1, "\(r)")
        let line = r.stderrLines.first ?? ""
        #expect(line.hasPrefix("jobledger: check: broadcast is failing to deliver: ") && line.contains("pending, last error: ")
                && line.contains("; next try "), "\(r)")
    }

    @Test func aHealthyLogPassesTheCheck() async throws {
        let db = scratch.path("fine.sqlite")
        try await logWithCompletedJob(db, in: scratch)
        let project = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        let r = try await jobledger(["projections", "--check", "--db", db], in: scratch)
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
    }
}
