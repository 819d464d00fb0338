import Foundation
import GRDB
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// The job list and the dashboard's counts read the `jobs` table by keyset, not a fold of the
/// log: the same pages, in the same order, as the fold gave, over a few hundred jobs of mixed
/// states, kinds and owners; a user sees only their own jobs.
@Suite struct ListFromJobsTableTests {
    static let kinds = ["design", "echo", "gated"]
    static let owners: [String?] = ["user_alice", "user_bob", nil]

    /// `n` jobs appended straight to the log (the owner recorded as the API records it), ids
    /// not in the order they were queued; every state: queued, running, completed, failed,
    /// canceled; and one failed job of alice's requeued by bob (a requeue that names an owner
    /// moves the job to them).
    static func seed(_ h: ServerHarness, jobs n: Int) async throws -> Int {
        let lease = Timestamp(milliseconds: 4_102_444_800_000)
        var batch: [NewEvent] = []
        for i in 0..<n {
            let id = try JobID(String(format: "job-%04d-%04d", (i * 37) % n, i))
            let kind = kinds[(i / 3) % 3]
            batch.append(NewEvent(job: id, payload: .queued(.init(kind: kind, input: ["n": .int(Int64(i))], owner: owners[i % 3]))))
            let started = EventPayload.started(.init(worker: "w", attempt: 1, leaseDeadline: lease))
            switch i % 5 {
            case 1: batch.append(NewEvent(job: id, payload: started))
            case 2: batch += [NewEvent(job: id, payload: started), NewEvent(job: id, payload: .completed(.init(output: ["ok": true], attempt: 1)))]
            case 3: batch += [NewEvent(job: id, payload: started),
                              NewEvent(job: id, payload: .failed(.init(code: "E", message: "no", retryable: false, attempt: 1)))]
            case 4: batch.append(NewEvent(job: id, payload: .canceled(.init(reason: "test"))))
            default: break
            }
            if batch.count >= 200 { _ = try await h.ledger.append(batch); batch = [] }
        }
        // Job 3 is alice's and failed: bob requeues it with his input.
        let requeued = try JobID(String(format: "job-%04d-%04d", (3 * 37) % n, 3))
        batch.append(NewEvent(job: requeued, payload: .queued(.init(kind: kinds[1], owner: "user_bob"))))
        return try await h.ledger.append(batch).count + n
    }

    /// The reference: the fold of the whole log, filtered and ordered as the route documents.
    static func reference(_ h: ServerHarness, owner: String?, state: JobStatus?, kind: String?) throws -> (jobs: [JobState], counts: [String: Int]) {
        let visible = try h.ledger.jobStates().values.filter { (owner == nil || $0.owner == owner) && (kind == nil || $0.kind == kind) }
        var counts: [String: Int] = [:]
        for s in JobStatus.allCases { counts[s.rawValue] = visible.filter { $0.status == s }.count }
        return (visible.filter { state == nil || $0.status == state }.sorted { $0.id > $1.id }, counts)
    }

    @Test func pagesMatchTheFoldOfTheLogForEveryFilterAndCaller() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await Self.seed(h, jobs: 300)
        _ = try await h.runner.catchUp()
        let admin = try await h.auth("user_root", role: "admin")
        let alice = try await h.auth("user_alice"), bob = try await h.auth("user_bob"), carol = try await h.auth("user_carol")
        let cases: [(HTTPFields, String?, JobStatus?, String?)] = [
            (admin, nil, nil, nil), (admin, nil, .completed, nil), (admin, nil, nil, "echo"), (admin, nil, .failed, "gated"),
            (admin, nil, .running, nil), (alice, "user_alice", nil, nil), (alice, "user_alice", .queued, nil),
            (alice, "user_alice", .canceled, "design"), (bob, "user_bob", nil, "echo"), (bob, "user_bob", .queued, nil),
            (carol, "user_carol", nil, nil),
        ]
        try await h.live { c async throws in
            for (headers, owner, state, kind) in cases {
                let ref = try Self.reference(h, owner: owner, state: state, kind: kind)
                let label = "owner \(owner ?? "admin") state \(state?.rawValue ?? "-") kind \(kind ?? "-")"
                var seen: [JSONValue] = []
                var cursor: String?
                var pages = 0
                repeat {
                    var q = "limit=37"
                    if let state { q += "&state=\(state.rawValue)" }
                    if let kind { q += "&kind=\(kind)" }
                    if let cursor { q += "&cursor=\(cursor)" }
                    let page = try await c.api(.get, "/api/jobs?\(q)", "/api/jobs", headers: headers).body.json!
                    guard case .array(let jobs)? = page["jobs"] else { Issue.record("no jobs: \(label)"); return }
                    #expect(jobs.count <= 37)
                    seen += jobs
                    for s in JobStatus.allCases { #expect(page["counts"]?[s.rawValue]?.intValue == Int64(ref.counts[s.rawValue]!), "\(label) \(s)") }
                    cursor = page["next_cursor"]?.stringValue
                    pages += 1
                } while cursor != nil && pages < 100
                #expect(seen.map { $0["id"]?.stringValue ?? "" } == ref.jobs.map(\.id.rawValue), "\(label)")
                #expect(seen.map { $0["state"]?.stringValue ?? "" } == ref.jobs.map(\.status.rawValue), "\(label)")
                #expect(seen.map { $0["version"]?.intValue ?? 0 } == ref.jobs.map { Int64($0.version) }, "\(label)")
                #expect(seen.map { $0["owner"]?.stringValue } == ref.jobs.map(\.owner), "\(label)")
                #expect(pages == max(1, (ref.jobs.count + 36) / 37), "\(label)")
                if let owner { #expect(seen.allSatisfy { $0["owner"]?.stringValue == owner }, "\(label)") }
            }
            // The filters matter: a user's jobs are some, not all, and the requeued job is bob's now.
            let all = try Self.reference(h, owner: nil, state: nil, kind: nil).jobs
            let alices = try Self.reference(h, owner: "user_alice", state: nil, kind: nil).jobs
            #expect(all.count == 300 && alices.count > 50 && alices.count < 150)
            #expect(try Self.reference(h, owner: "user_bob", state: .queued, kind: nil).jobs.contains { $0.input["n"] == nil })
        }
    }

    @Test func dashboardCountsComeFromTheTableAndMatchTheFold() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        _ = try await Self.seed(h, jobs: 120)
        _ = try await h.runner.catchUp()
        for (sub, role, owner) in [("user_root", "admin", nil), ("user_alice", nil, "user_alice")] as [(String, String?, String?)] {
            let cookie: HTTPFields = [.cookie: "__session=\(try await h.token(sub, role: role))"]
            let ref = try Self.reference(h, owner: owner, state: nil, kind: "echo")
            let html = try await h.live { c async throws in
                try await c.executeRequest(uri: "/?kind=echo", method: .get, headers: cookie, body: nil).body.text
            }
            #expect(html.contains("all <b>\(ref.counts.values.reduce(0, +))</b>"), "\(sub)")
            for s in JobStatus.allCases {
                #expect(html.contains("\(s.rawValue) <b>\(ref.counts[s.rawValue]!)</b>"), "\(sub) \(s)")
            }
            let shown = html.components(separatedBy: "data-job=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            #expect(shown == Array(ref.jobs.prefix(50).map(\.id.rawValue)), "\(sub)")
        }
    }

    @Test func aJobJustSubmittedIsFoundByIdAndListedOnceProjected() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let alice = try await h.auth("user_alice")
        try await h.live { c async throws in
            let id = try await c.api(.post, "/api/design", "/api/design", headers: alice, body: body(#"{"input":{"prompt":"a"}}"#)).body.json!["id"]!.stringValue!
            // By id: read from the log, at once.
            #expect(try await c.api(.get, "/api/jobs/\(id)", "/api/jobs/{id}", headers: alice).body.json?["state"] == "queued")
            // The list reads the jobs table, which has not taken the job in yet.
            #expect(try await c.api(.get, "/api/jobs", "/api/jobs", headers: alice).body.json?["counts"]?["queued"] == 0)
            _ = try await h.runner.catchUp()
            let list = try await c.api(.get, "/api/jobs", "/api/jobs", headers: alice).body.json!
            guard case .array(let jobs)? = list["jobs"] else { Issue.record("no jobs"); return }
            #expect(jobs.map { $0["id"]?.stringValue } == [id] && list["counts"]?["queued"] == 1)
        }
    }
}

/// The hash-chain status is verified incrementally: once in full, then only the events after
/// the last verified head, and in full again once the re-check interval has passed on the
/// server's clock.
@Suite struct IncrementalChainStatusTests {
    /// Changes a row behind the log's back, as someone with the sqlite3 shell would.
    static func tamper(_ h: ServerHarness, _ sql: String) throws {
        let q = try DatabaseQueue(path: h.dir.appendingPathComponent("log.sqlite").path)
        try q.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER events_no_update")
            try db.execute(sql: sql)
            try db.execute(sql: "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END")
        }
    }

    static func chain(_ c: any TestClientProtocol, _ id: String, _ headers: HTTPFields) async throws -> (through: Int64?, broken: Int64?, verified: [Bool]) {
        let h = try await c.api(.get, "/api/jobs/\(id)/events", "/api/jobs/{id}/events", headers: headers).body.json!
        guard case .array(let events)? = h["events"] else { return (nil, nil, []) }
        return (h["chain"]?["verified_through"]?.intValue, h["chain"]?["broken_at"]?.intValue, events.map { $0["chain_verified"] == true })
    }

    @Test func anOldRowDamagedAfterTheFirstVerdictIsNoticedOnlyByTheFullRecheck() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        let a = try JobID("job-a"), b = try JobID("job-b")
        _ = try await h.ledger.append([NewEvent(job: a, payload: .queued(.init(kind: "echo"))), NewEvent(job: a, payload: .canceled(.init(reason: "x")))])
        try await h.live { c async throws in
            #expect(try await Self.chain(c, "job-a", admin) == (2, nil, [true, true]))
            // Seq 1's payload changes: its digest no longer matches. Nothing reads it again…
            try Self.tamper(h, #"UPDATE events SET payload = '{"kind":"echo","input":{"x":1}}' WHERE seq = 1"#)
            _ = try await h.ledger.append(NewEvent(job: b, payload: .queued(.init(kind: "echo"))))
            h.clock.advance(ms: 599_999)
            // …so the new event verifies on the old verdict's footing (a full verify would say seq 1).
            #expect(try await Self.chain(c, "job-b", admin) == (3, nil, [true]))
            #expect(try await Self.chain(c, "job-a", admin) == (3, nil, [true, true]))
            // Ten minutes after the first full verification, the next read verifies the whole log.
            h.clock.advance(ms: 1)
            let after = try await Self.chain(c, "job-a", admin)
            #expect(after == (0, 1, [false, false]))
            #expect(try await Self.chain(c, "job-b", admin) == (0, 1, [false]))
        }
        #expect(try h.ledger.verify().problem?.seq == 1)
    }

    /// The verified head itself rewritten (same seq, another hash) or events cut off the end:
    /// nothing new to carry on from, so the whole log is verified again at once.
    @Test func aRewrittenOrCutHeadIsVerifiedAgainAtOnce() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append(NewEvent(job: a, payload: .queued(.init(kind: "echo"))))
        _ = try await h.ledger.append(NewEvent(job: a, payload: .canceled(.init(reason: "x"))))
        try await h.live { c async throws in
            #expect(try await Self.chain(c, "job-a", admin) == (2, nil, [true, true]))
            try Self.tamper(h, "UPDATE events SET hash = printf('%064d', 0) WHERE seq = 2")
            #expect(try await Self.chain(c, "job-a", admin).broken == 2)
        }
        let h2 = try await ServerHarness.make(); defer { h2.cleanup() }
        let admin2 = try await h2.auth("user_root", role: "admin")
        for p in [EventPayload.queued(.init(kind: "echo")), .canceled(.init(reason: "x"))] { _ = try await h2.ledger.append(NewEvent(job: a, payload: p)) }
        try await h2.live { c async throws in
            #expect(try await Self.chain(c, "job-a", admin2).broken == nil)
            // The last event cut off behind the server's back: the job's own history no longer
            // ends where it did, and the verdict is the whole log's again (valid, through seq 1).
            try Self.tamper(h2, "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2; CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END")
            #expect(try await Self.chain(c, "job-a", admin2).through == 1)
        }
    }

    @Test func aDamagedNewRowIsReportedAtOnce() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let admin = try await h.auth("user_root", role: "admin")
        let a = try JobID("job-a")
        _ = try await h.ledger.append(NewEvent(job: a, payload: .queued(.init(kind: "echo"))))
        try await h.live { c async throws in
            #expect(try await Self.chain(c, "job-a", admin) == (1, nil, [true]))
            _ = try await h.ledger.append(NewEvent(job: a, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 4_102_444_800_000)))))
            _ = try await h.ledger.append(NewEvent(job: a, payload: .canceled(.init(reason: "x"))))
            // Seq 3's hash no longer matches its row; seq 2 is new and sound.
            try Self.tamper(h, "UPDATE events SET hash = printf('%064d', 0) WHERE seq = 3")
            #expect(try await Self.chain(c, "job-a", admin) == (2, 3, [true, true, false]))
            // The verdict stays broken while the log grows, until a full re-check (which agrees).
            _ = try await h.ledger.append(NewEvent(job: try JobID("job-b"), payload: .queued(.init(kind: "echo"))))
            #expect(try await Self.chain(c, "job-a", admin).broken == 3)
            h.clock.advance(ms: 600_000)
            #expect(try await Self.chain(c, "job-a", admin).broken == 3)
        }
    }
}
