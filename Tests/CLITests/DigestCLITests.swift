import Foundation
import Testing

/// `digest` prints a head to keep elsewhere and check later with `verify --expect-head`. Of a
/// log whose projections show that events were cut off its end, it printed the cut head, exit
/// 0: kept (`digest >> heads.txt`), that head made every later `verify --expect-head` vouch for
/// the cut log. It now prints no head, exit 1, and says why, as `verify` fails such a log; so
/// too for a log that does not verify for another reason (a broken chain, rules removed).
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

    /// Nothing in the file witnessed the cut events (no projection ran), and the trigger was put
    /// back: `digest` cannot know, and prints the head; only a head kept before
    /// (`verify --expect-head`) catches it.
    @Test func withoutAWitnessTheHeadIsPrinted() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 4; " + Self.noDeleteTrigger)
        let r = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        #expect(r.status == 0 && r.stdout.hasPrefix("3:") && r.stderr.isEmpty, "\(r)")
    }

    static let noDeleteTrigger = "CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; DELETE is refused'); END;"
    static let noUpdateTrigger = "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;"

    /// A log whose hash chain is broken (an event edited behind the triggers, which were put
    /// back): `digest` printed its head, exit 0, as if it were one to keep. It now verifies
    /// first and, as `verify` fails such a log (exit 1, naming the seq), prints no head.
    @Test func aLogWhoseChainIsBrokenGivesNoHeadToKeep() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_update; UPDATE events SET payload = json_set(payload, '$.message', 'edited') WHERE seq = 3; "
                   + Self.noUpdateTrigger)
        let verify = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verify.status == 1 && verify.stdout.contains("FAILED at seq 3: payload changed after it was recorded"), "\(verify)")
        let r = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        expectRefusal(r, exit: 1, mentions: [
            "log.sqlite does not verify: FAILED at seq 3: payload changed after it was recorded",
            "its head is not one to keep, so none was printed (run jobledger verify)",
        ])
        #expect(r.stdout.isEmpty, "\(r)")
    }

    /// Integrity rules dropped and left dropped fail `verify` (exit 1), though every event checks
    /// out: `digest` prints no head either.
    @Test func aLogWhoseRulesWereRemovedGivesNoHeadToKeep() async throws {
        let scratch = Scratch()
        try await logWithCompletedJob("log.sqlite", in: scratch)
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_update")
        let r = try await jobledger(["digest", "--db", "log.sqlite"], in: scratch)
        expectRefusal(r, exit: 1, mentions: ["does not verify: FAILED: the log's integrity rules were removed behind its back: trigger events_no_update",
                                             "none was printed"])
        #expect(r.stdout.isEmpty, "\(r)")
    }
}
