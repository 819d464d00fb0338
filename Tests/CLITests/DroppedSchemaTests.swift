import Foundation
import GRDB
import Testing

/// Tables and triggers dropped by hand (`sqlite3 log.sqlite 'DROP TABLE jobs'`). The `jobs`
/// table is a projection: reads of it say it is missing and what rebuilds it, and `project
/// --once` and `projections rebuild` recreate it from the log. The log's own rules (its
/// triggers, `chain_rules`) cannot be rebuilt: `verify` fails naming what is gone, and still
/// checks the events, instead of stopping at "no such table".
@Suite struct DroppedSchemaTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    /// A log with a completed job, taken into the jobs table, whose table was then dropped.
    func logWithoutJobsTable() async throws -> String {
        let job = try await logWithCompletedJob(db, in: scratch)
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        try rawSQL(db, "DROP TABLE jobs")
        return job
    }

    @Test func readingADroppedJobsTableSaysWhatHappenedAndWhatFixesIt() async throws {
        _ = try await logWithoutJobsTable()
        let before = try await snapshot(db, in: scratch)
        for command in [["jobs"], ["jobs", "--state", "running"], ["jobs", "--json"], ["replay", "--check"]] {
            let r = try await jobledger(command + ["--db", db], in: scratch)
            expectRefusal(r, exit: 6, mentions: ["the jobs table is missing from \(db)", "nothing of the log is lost", "(jobledger projections rebuild)"])
            #expect(!r.stderr.contains("no such table"), "\(r)")
        }
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test(arguments: [["project", "--once", "--no-effects"], ["projections", "rebuild"]])
    func aDroppedJobsTableIsRecreatedFromTheLog(_ command: [String]) async throws {
        let job = try await logWithoutJobsTable()
        let r = try await jobledger(command + ["--db", db], in: scratch)
        #expect(r.status == 0, "\(r)")
        let jobs = try await jobledger(["jobs", "--db", db, "--json"], in: scratch)
        #expect(jobs.status == 0 && jobs.stdout.contains(job) && jobs.stdout.contains("\"state\":\"completed\""), "\(jobs)")
        let check = try await jobledger(["replay", "--check", "--db", db], in: scratch)
        #expect(check.status == 0 && check.stdout.hasPrefix("ok:"), "\(check)")
        // With the indexes the list of `serve` reads it by.
        let indexes = try await sqlite(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name)")
        #expect(indexes == "jobs_by_kind jobs_by_owner jobs_by_state jobs_by_state_id")
        #expect(try await jobledger(["verify", "--db", db], in: scratch).status == 0)
    }

    /// The outbox dropped: `projections` and `state` said only "storage error: no such table:
    /// outbox", naming neither the file nor a way out.
    @Test func aDroppedOutboxIsNamedWithAWayOut() async throws {
        let job = try await logWithCompletedJob(db, in: scratch)
        let project = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        try rawSQL(db, "DROP TABLE outbox")
        for command in [["projections"], ["state", job]] {
            let r = try await jobledger(command + ["--db", db], in: scratch)
            expectRefusal(r, exit: 6, mentions: ["the outbox table is missing from \(db)", "jobledger export --db \(db) > log.ndjson"])
            #expect(!r.stderr.contains("no such table"), "\(r)")
        }
    }

    @Test func verifyNamesADroppedChainRulesTableAndStillChecksTheEvents() async throws {
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, "DROP TABLE chain_rules")
        let r = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(r.status == 1, "\(r)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("FAILED: the log's integrity rules were removed behind its back: table chain_rules (which seqs are hashed under which rule), trigger chain_rules_no_update") == true, "\(r)")
        #expect(lines.first?.contains("inferred from the rows") == true, "\(r)")
        #expect(lines.dropFirst().first?.hasPrefix("the events themselves: ok: 4 events, 1 job") == true, "\(r)")
        #expect(lines.last == "hash rules (inferred from the rows): seq 1–4 under jobledger/v2", "\(r)")
        #expect(!r.stderr.contains("no such table"), "\(r)")
        let json = try await jobledger(["verify", "--db", db, "--json"], in: scratch)
        #expect(json.status == 1 && json.stdout.contains("\"ok\":false") && json.stdout.contains("\"rules_inferred\":true"), "\(json)")
        // The export still holds every event as stored, each under the rule its hash checks out
        // under, and imports; it exits 1 as verify does (it exited 0, though EventLog.md says an
        // export exits 1 when the log does not verify).
        let export = try await jobledger(["export", "--db", db], in: scratch)
        #expect(export.status == 1 && export.stdout.split(separator: "\n").count == 4 && export.stderr.contains("its events check out, so it imports"), "\(export)")
        try export.stdout.write(toFile: scratch.path("kept.ndjson"), atomically: true, encoding: .utf8)
        let restored = try await jobledger(["import", "--db", scratch.path("restored.sqlite"), scratch.path("kept.ndjson")], in: scratch)
        #expect(restored.status == 0, "\(restored)")
    }

    /// Dropped triggers: the events may all check out, but the database no longer refuses an
    /// UPDATE or DELETE of them; an edit made since is still named by its seq.
    @Test func verifyNamesDroppedTriggers() async throws {
        try await logWithCompletedJob(db, in: scratch)
        try rawSQL(db, "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete")
        let r = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.hasPrefix("FAILED: the log's integrity rules were removed behind its back: trigger events_no_update (refuses UPDATE on events), trigger events_no_delete (refuses DELETE on events); the database no longer refuses changes to recorded events"), "\(r)")
        #expect(r.stdout.contains("the events themselves: ok: 4 events"), "\(r)")
        try rawSQL(db, "UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 3")
        let edited = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(edited.status == 1 && edited.stdout.contains("FAILED at seq 3: hash does not match"), "\(edited)")
    }
}

/// One value from the file, read as the sqlite3 shell would.
private func sqlite(_ path: String, _ sql: String) async throws -> String? {
    let q = try GRDB.DatabaseQueue(path: path)
    defer { try? q.close() }
    return try await q.read { db in try String.fetchOne(db, sql: sql) }
}
