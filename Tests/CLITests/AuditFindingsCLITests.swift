import Foundation
import Testing

/// What an outside audit of the release binary found, each through the command line: an
/// export at the payload depth limit imports again, `verify --json` on failure names what it
/// verified, and `verify` fails a file damaged outside the events table.
@Suite(.timeLimit(.minutes(2)))
struct AuditFindingsCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    func payload(levels: Int) -> String {
        let arrays = levels - 1
        return "{\"kind\":\"x\",\"input\":" + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + "}"
    }

    @Test func anExportOfAPayloadAtTheDepthLimitImports() async throws {
        let append = try await jobledger(["append", "--db", db, "--type", "queued", "--payload", payload(levels: 64)], in: scratch)
        #expect(append.status == 0, "\(append)")
        let deeper = try await jobledger(["append", "--db", db, "--type", "queued", "--payload", payload(levels: 65)], in: scratch)
        #expect(deeper.status == 2 && deeper.stderr.contains("nested deeper than 64 levels"), "\(deeper)")
        let export = try await jobledger(["export", "--db", db], in: scratch)
        #expect(export.status == 0, "\(export)")
        let file = scratch.path("n.ndjson")
        try Data(export.stdout.utf8).write(to: URL(fileURLWithPath: file))
        let imported = try await jobledger(["import", "--db", scratch.path("n2.sqlite"), file], in: scratch)
        #expect(imported.status == 0, "\(imported)")
        let digests = [try await jobledger(["digest", "--db", db], in: scratch).stdout,
                       try await jobledger(["digest", "--db", scratch.path("n2.sqlite")], in: scratch).stdout]
        #expect(digests[0] == digests[1] && !digests[0].isEmpty)
    }

    @Test func verifyJSONOnFailureSaysWhatItVerifiedThrough() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let ok = try await jobledger(["verify", "--json", "--db", db], in: scratch)
        let good = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any], "\(ok)")
        let head = try #require(good["head"] as? String)
        #expect(good["verified_through"] as? String == head && head.hasPrefix("4:"))

        try rawSQL(db, """
            DROP TRIGGER events_no_update;
            UPDATE events SET payload = replace(payload, 'half', 'Half') WHERE seq = 3;
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
            """)
        let bad = try await jobledger(["verify", "--json", "--db", db], in: scratch)
        #expect(bad.status == 1, "\(bad)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any], "\(bad)")
        #expect(report["ok"] as? Bool == false)
        #expect(report["head"] is NSNull, "no head is vouched for: \(report)")
        #expect((report["verified_through"] as? String)?.hasPrefix("2:") == true, "\(report)")
        #expect((report["problem"] as? [String: Any])?["seq"] as? Int == 3, "\(report)")
    }
}

/// `verify --json` on an empty log gives the head its text and `digest` give: seq 0 and the
/// genesis hash (its JSON said null, as for a log that failed).
@Suite struct EmptyLogVerifyCLITests {
    let scratch = Scratch()

    @Test func anEmptyLogsHeadIsTheSameInTextJSONAndDigest() async throws {
        let db = scratch.path("empty.sqlite")
        let made = try await jobledger(["import", "--db", db, "-"], in: scratch)
        #expect(made.status == 0, "\(made)")
        let genesis = "0:" + String(repeating: "0", count: 64)
        let text = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(text.status == 0 && text.stdout.contains("head \(genesis)"), "\(text)")
        let json = try await jobledger(["verify", "--json", "--db", db], in: scratch)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(report["head"] as? String == genesis && report["verified_through"] as? String == genesis, "\(json.stdout)")
        let digest = try await jobledger(["digest", "--db", db], in: scratch)
        #expect(digest.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == genesis, "\(digest)")
    }
}

/// `verify --json` vouches for no head of a log whose integrity rules were removed (`ok` is
/// false): `head` is null, as the page says, while `verified_through` says how far the events
/// themselves checked out. (It gave the head whenever no event failed.)
@Suite struct RemovedRulesVerifyCLITests {
    let scratch = Scratch()

    @Test func aLogWithoutItsTriggerHasNoHeadInJSON() async throws {
        let db = scratch.path("log.sqlite")
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, "DROP TRIGGER events_no_update;")
        let r = try await jobledger(["verify", "--json", "--db", db], in: scratch)
        #expect(r.status == 1, "\(r)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r)")
        #expect(report["ok"] as? Bool == false && report["head"] is NSNull, "\(r.stdout)")
        #expect((report["verified_through"] as? String)?.hasPrefix("4:") == true, "\(r.stdout)")
    }
}
