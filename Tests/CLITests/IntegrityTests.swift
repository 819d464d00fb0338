import Foundation
import Testing

/// digest, verify (with and without an expected head, on tampered copies), export and import.
@Suite(.timeLimit(.minutes(2)))
struct IntegrityTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    /// The log's head as printed by `digest`, checked to be SEQ:HASH.
    func head(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> (seq: Int, text: String) {
        let r = try await jobledger(["digest", "--db", path], in: scratch)
        #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
        let text = r.stdout.trimmingCharacters(in: .newlines)
        let match = try #require(text.wholeMatch(of: chainHead), "digest should print SEQ:HASH: \(r)", sourceLocation: sourceLocation)
        return (Int(match.1)!, text)
    }

    @Test func digestAndVerifyOnAnIntactLog() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let h = try await head(db)
        #expect(h.seq == 4)

        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stdout.hasPrefix("ok: 4 events, 1 job"), "\(verify)")
        #expect(verify.stdout.contains("head \(h.text)"))
        #expect(verify.stderr.isEmpty)

        let expecting = try await jobledger(["verify", "--db", db, "--expect-head", h.text], in: scratch)
        #expect(expecting.status == 0, "\(expecting)")
        #expect(expecting.stdout.contains("head 4 matches"), "\(expecting)")
    }

    @Test func digestOfAnEmptyLogIsSeqZeroAndTheGenesisHash() async throws {
        // An import of nothing creates an empty log.
        let empty = scratch.path("empty.ndjson")
        try Data().write(to: URL(fileURLWithPath: empty))
        let r = try await jobledger(["import", "--db", db, empty], in: scratch)
        #expect(r.status == 0, "\(r)")
        let digest = try await jobledger(["digest", "--db", db], in: scratch)
        #expect(digest.status == 0)
        #expect(digest.stdout == emptyDigest)
    }

    @Test func eventsCutOffTheEndAreCaughtOnlyByTheExpectedHead() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let old = try await head(db)
        try rawSQL(db, """
            DROP TRIGGER events_no_update;
            DROP TRIGGER events_no_delete;
            DELETE FROM events WHERE seq = (SELECT max(seq) FROM events);
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; DELETE is refused'); END;
            """)  // the triggers put back, as a careful tamperer would (else verify names them as removed)

        let plain = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(plain.status == 0, "a shorter chain is still a valid chain: \(plain)")
        #expect(plain.stdout.hasPrefix("ok: 3 events"), "\(plain)")

        let expecting = try await jobledger(["verify", "--db", db, "--expect-head", old.text], in: scratch)
        #expect(expecting.status == 1, "\(expecting)")
        #expect(expecting.stdout.hasPrefix("FAILED at seq 4:"), "\(expecting)")
        #expect(expecting.stdout.contains("ends at seq 3"), "\(expecting)")
        #expect(expecting.stdout.contains("cut off the end"), "\(expecting)")
    }

    /// A tripwire in the same file: once the projections have taken in the events that were
    /// cut, their checkpoints lie past the head, and plain `verify` (and `projections`) say so.
    @Test func eventsCutAfterTheProjectionsTookThemInAreCaughtByPlainVerify() async throws {
        try await logWithCompletedJob(db, in: scratch)
        #expect(try await jobledger(["project", "--once", "--db", db, "--no-effects"], in: scratch).status == 0)
        #expect(try await jobledger(["verify", "--db", db], in: scratch).status == 0)
        try rawSQL(db, """
            DROP TRIGGER events_no_update;
            DROP TRIGGER events_no_delete;
            DELETE FROM events WHERE seq >= 3;
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; DELETE is refused'); END;
            """)  // the triggers put back: the missing end is what is to be found
        let plain = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(plain.status == 1, "\(plain)")
        #expect(plain.stdout.hasPrefix("FAILED at seq 3: missing: the log ends at seq 2, but projection 'jobs' has taken in events up to seq 4"), "\(plain)")
        let status = try await jobledger(["projections", "--db", db], in: scratch)
        #expect(status.stderr.contains("projection jobs has taken in events up to seq 4, but the log ends at seq 2"), "\(status)")
        // `jobs` shows the table's rows (completed, which the log no longer says) and says why.
        let jobs = try await jobledger(["jobs", "--db", db], in: scratch)
        #expect(jobs.status == 0 && jobs.stdout.contains("completed"), "\(jobs)")
        #expect(jobs.stderr.contains("warning: the jobs table has taken in events up to seq 4, but the log ends at seq 2: events were cut off the end"), "\(jobs)")
        // A writer refuses the log: appending would reuse seqs 3 and 4, which the projections
        // would skip as taken in, and the tripwire would be gone once the log grew past them.
        for args in [["submit", "design"], ["work", "--until-idle"], ["project", "--once"]] {
            let r = try await jobledger(args + ["--db", db], in: scratch)
            expectRefusal(r, exit: 6, mentions: ["has lost events: the log ends at seq 2, but projection 'jobs' has taken in events up to seq 4", "nothing was written",
                                              "verify the restored log (jobledger import, jobledger verify)"])
        }
        let after = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(after.stdout == plain.stdout, "nothing was appended: \(after)")
    }

    /// A file cut short (a bad copy, a full disk mid-copy) is exit 6 with a message that names
    /// it and says what to do, not SQLite's bare "database disk image is malformed".
    @Test func aDamagedFileIsNamedInTheError() async throws {
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, "PRAGMA wal_checkpoint(TRUNCATE)")
        #expect(try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int ?? 0 > 16_384, "the cut must fall inside the file")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: db))
        try handle.truncate(atOffset: 16_384)
        try handle.close()
        let r = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(r.status == 6, "\(r)")
        #expect(r.stderr.contains("\(db) is damaged (SQLite: database disk image is malformed); restore it from a backup or an export (jobledger import)"), "\(r)")
    }

    /// Times that go backwards (a writer's clock stepped back; an import keeps each line's
    /// time): verify passes, and says how many and where first, on stderr and in --json.
    @Test func verifyWarnsOfRecordedTimesGoingBackwards() async throws {
        let lines = [("a", "2026-11-29T00:00:02Z"), ("b", "2026-11-29T00:00:01Z"), ("c", "2026-11-29T00:00:03Z"), ("d", "2026-11-29T00:00:00Z")].map { job, at in
            #"{"job_id":"\#(job)","type":"queued","recorded_at":"\#(at)","payload":{"kind":"design"}}"#
        }
        let file = scratch.path("clock.ndjson")
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
        #expect(try await jobledger(["import", "--db", db, file], in: scratch).status == 0)

        let text = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.hasPrefix("ok: 4 events, 4 jobs"), "\(text)")
        #expect(text.stderrLines == ["jobledger: warning: 2 events recorded earlier than the event before them, the first at seq 2: the writer's clock stepped back; "
                                     + "the log is intact (its order is its seq), but times around those events read out of order"], "\(text)")

        let json = try await jobledger(["verify", "--db", db, "--json"], in: scratch)
        #expect(json.status == 0 && json.stderr.isEmpty, "\(json)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(report["ok"] as? Bool == true && report["events"] as? Int == 4 && report["problem"] is NSNull, "\(report)")
        let back = try #require(report["time_backwards"] as? [String: Any], "\(report)")
        #expect(back["count"] as? Int == 2 && back["first_seq"] as? Int == 2, "\(back)")
        #expect((report["non_canonical"] as? [String: Any])?["count"] as? Int == 0, "\(report)")

        // An intact log in order says nothing of it.
        let other = scratch.path("in-order.sqlite")
        try await logWithCompletedJob(other, in: scratch)
        let quiet = try await jobledger(["verify", "--db", other, "--json"], in: scratch)
        let q = try #require(try JSONSerialization.jsonObject(with: Data(quiet.stdout.utf8)) as? [String: Any], "\(quiet)")
        #expect((q["time_backwards"] as? [String: Any])?["first_seq"] is NSNull, "\(q)")
    }

    @Test func aPayloadChangedInTheMiddleIsCaughtByVerify() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let old = try await head(db)
        try rawSQL(db, """
            DROP TRIGGER events_no_update;
            UPDATE events SET payload = '{"attempt":1,"fraction":0.6,"message":"half"}' WHERE seq = 3;
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'jobledger: the events table is append-only; UPDATE is refused'); END;
            """)  // the trigger put back: the changed payload is what is to be found
        // The head itself is untouched, but a log that does not verify gives no head to keep.
        let digest = try await jobledger(["digest", "--db", db], in: scratch)
        #expect(digest.status == 1 && digest.stdout.isEmpty && digest.stderr.contains("does not verify: FAILED at seq 3: payload changed"), "\(digest)")

        let plain = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(plain.status == 1, "\(plain)")
        #expect(plain.stdout.hasPrefix("FAILED at seq 3: payload changed after it was recorded"), "\(plain)")

        let expecting = try await jobledger(["verify", "--db", db, "--expect-head", old.text], in: scratch)
        #expect(expecting.status == 1, "\(expecting)")
        #expect(expecting.stdout.hasPrefix("FAILED at seq 3:"), "\(expecting)")
    }

    @Test func exportThenImportIntoAFreshLogReproducesTheDigest() async throws {
        let job = try await logWithCompletedJob(db, in: scratch)
        try await append(db, type: "queued", job: "job-2", payload: queuedPayload, extra: ["--idempotency-key", "k2"], in: scratch)
        try await append(db, type: "canceled", job: "job-2", payload: #"{"reason":"changed my mind"}"#, in: scratch)
        let original = try await snapshot(db, in: scratch)
        #expect(original.export.split(separator: "\n").count == 6)

        let file = scratch.path("log.ndjson")
        try Data(original.export.utf8).write(to: URL(fileURLWithPath: file))
        let copy = scratch.path("copy.sqlite")
        let r = try await jobledger(["import", "--db", copy, file], in: scratch)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("imported 6 events of 2 jobs as seq 1…6"), "\(r)")

        let imported = try await snapshot(copy, in: scratch)
        #expect(imported.digest == original.digest)
        #expect(imported.export == original.export)
        let verify = try await jobledger(["verify", "--db", copy, "--expect-head", original.digest.trimmingCharacters(in: .newlines)], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        let history = try await jobledger(["history", "--db", copy, job], in: scratch)
        #expect(history.status == 0)
        #expect(history.stdout.hasPrefix("job \(job) · kind design · completed · 4 events"))
    }

    /// A row changed by hand so that it breaks a CHECK of its table (constraints ignored by the
    /// writer): `verify` exited 6 with SQLite's finding alone, no seq and no word of the dropped
    /// trigger, and `--json` printed nothing. The scan's findings come first, and the damage
    /// beside them.
    @Test func aRowBreakingACheckIsNamedByItsSeqBesideTheDamage() async throws {
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, "PRAGMA ignore_check_constraints = 1; DROP TRIGGER events_no_update; UPDATE events SET type = 'exploded' WHERE seq = 3")
        let plain = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(plain.status == 1, "\(plain)")
        let lines = plain.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[0].hasPrefix("FAILED: the log's integrity rules were removed") && lines[0].contains("events_no_update")
                && lines[1].hasPrefix("FAILED at seq 3:") && lines[2].hasPrefix("and the file is damaged:") && lines[2].contains("CHECK constraint failed in events"),
                "\(plain)")
        let json = try await jobledger(["verify", "--db", db, "--json"], in: scratch)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(json.status == 1 && report["ok"] as? Bool == false && (report["problem"] as? [String: Any])?["seq"] as? Int == 3
                && (report["damage"] as? String ?? "").contains("CHECK constraint failed"), "\(json)")
    }

    /// A log that does not verify is exported whole, as stored (evidence), but the export
    /// exits 1 naming the first bad seq: `import` refuses such an export, so a backup made of it
    /// could never be restored.
    @Test func anExportOfALogThatDoesNotVerifyExitsOne() async throws {
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, #"DROP TRIGGER events_no_update; UPDATE events SET payload = '{"attempt":1,"fraction":0.5,"message":"edited"}' WHERE seq = 3"#)
        let r = try await jobledger(["export", "--db", db], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.split(separator: "\n").count == 4, "every event is written: \(r)")
        #expect(r.stdout.contains(#""message":"edited""#), "as stored: \(r)")
        #expect(r.stderr.hasPrefix("jobledger: the log does not verify at seq 3: payload changed after it was recorded"), "\(r)")
        let file = scratch.path("tampered.ndjson")
        try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: file))
        let restore = try await jobledger(["import", "--db", scratch.path("restored.sqlite"), file], in: scratch)
        expectRefusal(restore, exit: 2, mentions: ["import failed at line 3", "payload does not match its payload_digest"])
    }

    /// Each way of spoiling line 3 of a 6-line export.
    static let badLines: [(name: String, spoil: @Sendable (String) -> String, mentions: String)] = [
        ("not JSON", { _ in #"{"seq":3,"job_id":"# }, "line 3"),
        ("payload edited", { $0.replacingOccurrences(of: #""fraction":0.5"#, with: #""fraction":0.7"#) }, "payload does not match its payload_digest"),
        ("unknown key", { $0.replacingOccurrences(of: #"{"seq":3,"#, with: #"{"seq":3,"extra":1,"#) }, "line 3"),
    ]

    @Test(arguments: 0..<badLines.count)
    func anImportWithOneBadLineInTheMiddleImportsNothing(index: Int) async throws {
        let bad = Self.badLines[index]
        try await logWithCompletedJob(db, in: scratch)
        try await append(db, type: "queued", job: "job-2", payload: queuedPayload, in: scratch)
        try await append(db, type: "canceled", job: "job-2", payload: "{}", in: scratch)
        var lines = try await snapshot(db, in: scratch).export.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        #expect(lines[2].contains(#""type":"progress""#))
        let spoiled = bad.spoil(lines[2])
        #expect(spoiled != lines[2], "\(bad.name)")
        lines[2] = spoiled
        let file = scratch.path("bad.ndjson")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))

        let target = scratch.path("target.sqlite")
        let r = try await jobledger(["import", "--db", target, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 3", bad.mentions, "nothing was imported"])
        // The input is checked before the log is opened: a refused import creates no log.
        #expect(!scratch.exists("target.sqlite"), "a refused import must not leave an empty log behind")
    }

    @Test func anImportIntoALogThatAlreadyHoldsTheJobsImportsNothing() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let file = scratch.path("log.ndjson")
        try Data(before.export.utf8).write(to: URL(fileURLWithPath: file))
        let r = try await jobledger(["import", "--db", db, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 1", "nothing was imported"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func anUnreadableImportFileIsRefused() async throws {
        let r = try await jobledger(["import", "--db", db, scratch.path("no-such.ndjson")], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["cannot read", "no-such.ndjson", "no such file"])
        #expect(!scratch.exists("log.sqlite"))
    }

    /// A folder opens for reading, but cannot be read: bad input (exit 2), as an unreadable file
    /// is, not a storage error (exit 6) about "the input".
    @Test func aFolderGivenAsTheImportFileIsRefusedAsBadInput() async throws {
        let folder = scratch.path("exports")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let r = try await jobledger(["import", "--db", db, folder], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["cannot read \(folder): it is a folder"])
        #expect(!scratch.exists("log.sqlite"), "a refused import must not leave an empty log behind")

        try await logWithCompletedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let again = try await jobledger(["import", "--db", db, folder], in: scratch)
        expectRefusal(again, exit: 2, mentions: ["cannot read \(folder): it is a folder"])
        #expect(try await snapshot(db, in: scratch) == before)
    }
}
