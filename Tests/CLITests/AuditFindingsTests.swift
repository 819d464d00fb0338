import Foundation
import GRDB
import Testing

/// Faults an auditor found from outside: a time point on one job when clocks stepped back, a
/// jobs table whose checkpoint lies past the log's end, a changed stored hash, and an event
/// changed into one that does not decode.
@Suite struct AuditFindingsTests {
    /// Job A at 10 s, then job B at 5 s and 6 s (the clock stepped back). As of 7 s the log's
    /// prefix is empty (its first event was recorded later), so B did not exist yet: one job's
    /// view must agree with the whole log's.
    @Test func aTimePointOnOneJobIsTheLogsPrefixWhenClocksSteppedBack() async throws {
        let scratch = Scratch()
        let lines = [
            #"{"job_id":"A","type":"queued","recorded_at":"2026-01-01T00:00:10Z","payload":{"kind":"design"}}"#,
            #"{"job_id":"B","type":"queued","recorded_at":"2026-01-01T00:00:05Z","payload":{"kind":"design"}}"#,
            #"{"job_id":"B","type":"canceled","recorded_at":"2026-01-01T00:00:06Z","payload":{"reason":"r"}}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: scratch.path("clk.ndjson"), atomically: true, encoding: .utf8)
        let imported = try await jobledger(["import", "--db", "log.sqlite", "clk.ndjson"], in: scratch)
        #expect(imported.status == 0, "\(imported)")
        let state = try await jobledger(["state", "--db", "log.sqlite", "B", "--as-of", "2026-01-01T00:00:07Z"], in: scratch)
        expectRefusal(state, exit: 3, mentions: ["job B did not exist yet"])
        let replay = try await jobledger(["replay", "--db", "log.sqlite", "--job", "B", "--until", "2026-01-01T00:00:07Z", "--json"], in: scratch)
        #expect(replay.status == 0 && replay.stdout == "[]\n", "\(replay)")
        // Past the first event's time, the whole prefix: B as the log had it.
        let later = try await jobledger(["state", "--db", "log.sqlite", "B", "--as-of", "2026-01-01T00:00:10Z", "--json"], in: scratch)
        #expect(later.status == 0 && later.stdout.contains("canceled"), "\(later)")
    }

    @Test func replayCheckFailsWhenTheCheckpointIsPastTheLogsEnd() async throws {
        let scratch = Scratch()
        let submitted = try await jobledger(["submit", "design", "--db", "log.sqlite"], in: scratch)
        #expect(submitted.status == 0, "\(submitted)")
        let projected = try await jobledger(["project", "--once", "--no-effects", "--db", "log.sqlite"], in: scratch)
        #expect(projected.status == 0, "\(projected)")
        try rawSQL(scratch.path("log.sqlite"), "UPDATE projections SET checkpoint = 50 WHERE name = 'jobs'")
        let r = try await jobledger(["replay", "--check", "--db", "log.sqlite"], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.contains("up to seq 50, but the log ends at seq 1"), "\(r)")
    }

    /// Only the stored hash of seq 2 changed: the row's fields still give the hash seq 3 links
    /// to. On the last event nothing tells the two apart, and the message says both.
    @Test func aChangedStoredHashIsNamedAsSuch() async throws {
        let scratch = Scratch()
        for _ in 0..<3 { #expect(try await jobledger(["submit", "design", "--db", "log.sqlite"], in: scratch).status == 0) }
        let log = scratch.path("log.sqlite")
        try tamper(log, "UPDATE events SET hash = upper(hash) WHERE seq = 2")
        let middle = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(middle.status == 1, "\(middle)")
        #expect(middle.stdout.hasPrefix("FAILED at seq 2: the stored hash "), "\(middle)")
        #expect(middle.stdout.contains("the hash seq 3 links to"), "\(middle)")
        try tamper(log, "UPDATE events SET hash = lower(hash) WHERE seq = 2; UPDATE events SET hash = upper(hash) WHERE seq = 3")
        let last = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(last.status == 1, "\(last)")
        #expect(last.stdout.contains("FAILED at seq 3: hash does not match the row"), "\(last)")
        #expect(last.stdout.contains("changed after it was recorded, or its stored hash was"), "\(last)")
    }

    /// A progress event changed into a `lowres` one (its payload has no asset): readers name
    /// the seq and the job and exit 6, the log's damage, not 2, bad input.
    @Test func anEventThatDoesNotDecodeIsNamedAsDamage() async throws {
        let scratch = Scratch()
        let job = try await logWithCompletedJob("log.sqlite", in: scratch)  // seq 3 is its progress
        try tamper(scratch.path("log.sqlite"), "UPDATE events SET type = 'lowres' WHERE seq = 3")
        for args in [["jobs"], ["history", job], ["state", job]] {
            let r = try await jobledger(args + ["--db", "log.sqlite"], in: scratch)
            expectRefusal(r, exit: 6, mentions: ["the event at seq 3 (job \"\(job)\") is not a valid event", "verify the log"])
        }
        let verify = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verify.status == 1 && verify.stdout.hasPrefix("FAILED at seq 3: "), "\(verify)")
    }
}

/// Runs `sql` on the events with the trigger that refuses updates dropped, then puts the trigger
/// back as it was: a tamperer who covers the tracks `verify` checks for.
private func tamper(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        let trigger = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'events_no_update'")!
        try db.execute(sql: "DROP TRIGGER events_no_update")
        try db.execute(sql: sql)
        try db.execute(sql: trigger)
    }
    try queue.close()
}
