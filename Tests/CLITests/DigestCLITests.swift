import Foundation
import Testing

/// `digest` prints a head to keep elsewhere and check later with `verify --expect-head`. Of a
/// log whose projections show that events were cut off its end, it printed the cut head, exit
/// 0: kept (`digest >> heads.txt`), that head made every later `verify --expect-head` vouch for
/// the cut log. It now prints no head, exit 1, and says why, as `verify` fails such a log.
@Suite struct DigestCLITests {
    @Test func aLogWithEventsCutOffTheEndGivesNoHeadToKeep() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", "log.sqlite"], in: scratch)
        #expect(project.status == 0, "\(project)")
        let intact = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        #expect(intact.status == 0 && intact.stdout.hasPrefix("4:"), "\(intact)")

        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 4")
        let r = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        expectRefusal(r, exit: 1, mentions: [
            "log.sqlite has lost events: the log ends at seq 3, but projection 'jobs' has taken in events up to seq 4",
            "none was printed", "(run jobledger verify)",
        ])
        let verify = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verify.status == 1, "\(verify)")
    }

    /// Nothing in the file witnessed the cut events (no projection ran): `digest` cannot know,
    /// and prints the head; only a head kept before (`verify --expect-head`) catches it.
    @Test func withoutAWitnessTheHeadIsPrinted() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 4")
        let r = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        #expect(r.status == 0 && r.stdout.hasPrefix("3:") && r.stderr.isEmpty, "\(r)")
    }
}
