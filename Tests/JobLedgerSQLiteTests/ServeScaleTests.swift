import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// Schema v6 (the jobs table's owner and the list indexes) and the incremental verification
/// that `jobledger serve` reads.
@Suite struct ServeScaleTests {
    static func owned(_ owner: String?, kind: String = "design") -> EventPayload {
        .queued(.init(kind: kind, input: ["prompt": "p"], owner: owner))
    }

    /// A `queued` event as `serve` wrote it before the `owner` field: the owner in the input
    /// (a new event may not carry that key, so it comes in through an import).
    static func legacyQueued(_ job: String, input: JSONValue) -> String {
        let payload: JSONValue = ["kind": "design", "input": input]
        return #"{"job_id":"\#(job)","type":"queued","recorded_at":"2026-01-01T00:00:00.000Z","payload":\#(payload.canonicalText)}"#
    }

    /// A v5 log whose jobs table was projected before the owner column existed gets each row's
    /// owner from the job's latest `queued` event up to the row's version that names one (in
    /// its `owner` field, or as `serve` recorded it before that field, in the input), as the
    /// projection would have written it; the list then finds a user's jobs through the new index.
    @Test func migrationToV6FillsTheOwnerOfRowsAlreadyProjected() async throws {
        let dir = TempDir()
        let source = try Ledger.open(path: dir.path("source.sqlite"))
        _ = try source.importNDJSON([Self.legacyQueued("a", input: ["prompt": "p", "_jobledger": ["owner": "user_alice"]]),
                                     Self.legacyQueued("num", input: ["_jobledger": ["owner": 7]]),
                                     Self.legacyQueued("r", input: ["_jobledger": ["owner": "user_alice"]])])
        _ = try await source.append(NewEvent(job: jid("cli"), payload: Self.owned(nil)))
        _ = try await source.append(NewEvent(job: jid("new"), payload: Self.owned("user_carol")))
        _ = try await source.append([NewEvent(job: jid("r"), payload: started()),
                                     NewEvent(job: jid("r"), payload: .failed(.init(code: "E", message: "x", retryable: false, attempt: 1))),
                                     NewEvent(job: jid("r"), payload: Self.owned("user_bob"))])
        #expect(try await source.state(of: jid("a"))?.owner == "user_alice")
        #expect(try await source.state(of: jid("r"))?.owner == "user_bob")
        var rows: [RawEvent] = []
        try source.forEachRawEvent { rows.append($0) }
        let path = dir.path("v5.sqlite")
        try await writeOldLog(path, upTo: "v5: engine snapshots", rows: rows)
        // The v5 jobs table: r as of version 3 (failed, before bob's requeue), the others current.
        let q = try rawQueue(path)
        try await q.write { db in
            for (id, version, state) in [("a", 1, "queued"), ("cli", 1, "queued"), ("num", 1, "queued"), ("new", 1, "queued"), ("r", 3, "failed")] {
                try db.execute(sql: """
                    INSERT INTO jobs (id, kind, state, attempt, max_attempts, progress, created_at, updated_at, version, seq)
                    VALUES (?, 'design', ?, 0, 3, 0, 0, 0, ?, 0)
                    """, arguments: [id, state, version])
            }
        }
        try q.close()
        let ledger = try Ledger.open(path: path)
        #expect(ledger.schemaVersion == Schema.version)
        let owners = try await rawQueue(path).read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, owner FROM jobs").map { ($0[0] as String, $0[1] as String?) })
        }
        #expect(owners == ["a": "user_alice", "cli": nil, "num": nil, "new": "user_carol", "r": "user_alice"])
        #expect(try ledger.jobListPage(owner: "user_alice", limit: 10).jobs.map(\.state.id.rawValue) == ["r", "a"])
        #expect(try ledger.jobListPage(owner: "user_alice", limit: 10).counts == [.queued: 1, .failed: 1])
        #expect(try ledger.verify().isValid)
    }

    /// The list's queries walk their indexes: no full scan of the table, no sort.
    @Test func theListQueriesUseTheirIndexes() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        _ = try Ledger.open(path: path)
        let q = try rawQueue(path)
        for (sql, index) in [
            ("SELECT id FROM jobs INDEXED BY jobs_by_owner WHERE owner = 'u' AND state = 'queued' AND id < 'x' ORDER BY id DESC LIMIT 5", "jobs_by_owner"),
            ("SELECT id FROM jobs INDEXED BY jobs_by_state_id WHERE kind = 'k' AND state = 'queued' AND id < 'x' ORDER BY id DESC LIMIT 5", "jobs_by_state_id"),
            ("SELECT id FROM jobs INDEXED BY jobs_by_kind WHERE kind = 'k' AND id < 'x' ORDER BY id DESC LIMIT 5", "jobs_by_kind"),
            ("SELECT id FROM jobs WHERE id < 'x' ORDER BY id DESC LIMIT 5", "sqlite_autoindex_jobs_1"),
            ("SELECT state, count(*) FROM jobs INDEXED BY jobs_by_owner WHERE owner = 'u' GROUP BY state", "jobs_by_owner"),
        ] {
            let plan = try await q.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String } }
            #expect(plan.contains { $0.contains(index) }, "\(plan)")
            if !sql.contains("GROUP BY") { #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)") }
        }
    }

    /// Carrying a verification on gives the report a full one gives, reading only the new rows:
    /// an old row damaged after the first pass goes unseen by the carried-on pass (the full one
    /// names it), a damaged new row is named by both.
    @Test func verifyCarriedOnMatchesAFullVerifyAndReadsOnlyNewRows() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(lifecycle(jid("a")))
        let (first, point) = try ledger.verify(continuing: nil)
        #expect(first.isValid && first.events == 6 && point.head.seq == 6)
        _ = try await ledger.append(lifecycle(jid("b")))
        let (carried, next) = try ledger.verify(continuing: point)
        let full = try ledger.verify()
        #expect(carried.isValid && carried.events == full.events && carried.jobs == full.jobs && carried.head == full.head && carried.rules == full.rules)
        #expect(next.head == full.head)
        // Seq 2 is damaged behind the log's back: the carried-on pass does not read it again.
        let q = try rawQueue(path)
        try await q.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER events_no_update")
            try db.execute(sql: #"UPDATE events SET payload = '{"kind":"design","input":{}}' WHERE seq = 2"#)
        }
        _ = try await ledger.append(NewEvent(job: jid("c"), payload: queued))
        #expect(try ledger.verify(continuing: next).report.problem == nil)  // the dropped trigger is named apart
        #expect(try ledger.verify().problem?.seq == 2)
        _ = try await ledger.append(NewEvent(job: jid("c"), payload: started()))
        try await q.writeWithoutTransaction { db in try db.execute(sql: "UPDATE events SET hash = printf('%064d', 0) WHERE seq = 14") }
        let (broken, _) = try ledger.verify(continuing: next)
        #expect(broken.problem?.seq == 14 && broken.problem?.message.contains("hash does not match") == true)
    }
}
