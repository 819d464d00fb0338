import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The engine's lean read: a job's first `queued` event comes back with its kind, priority and
/// run-at taken out by SQLite, exactly as the decoded payload has them; every other event
/// decoded in full.
@Suite struct EngineEventTests {
    @Test func firstQueuedEventsAreReadLeanAndTheRestInFull() async throws {
        let dir = TempDir()
        let clock = TestClock()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config(clock: clock))
        let a = jid("job-a"), b = jid("job-b")
        let runAt = Timestamp(milliseconds: 1_795_000_123_456)
        _ = try await ledger.append(NewEvent(job: a, payload: .queued(.init(kind: "render", input: ["big": "input"], priority: -7, runAt: runAt))))
        _ = try await ledger.append(NewEvent(job: b, payload: .queued(.init(kind: "mail"))))
        _ = try await ledger.append(NewEvent(job: b, payload: started()))
        _ = try await ledger.append(NewEvent(job: b, payload: .failed(.init(code: "x", message: "", retryable: false, attempt: 1))))
        _ = try await ledger.append(NewEvent(job: b, payload: .queued(.init(kind: "mail", priority: 3))))  // a requeue: in full
        let page = try await ledger.enginePage(from: 1, limit: 10)
        let full = try await ledger.page(from: 1, limit: 10)
        #expect(page.map(\.seq) == [1, 2, 3, 4, 5])
        for (lean, e) in zip(page, full) {
            switch lean {
            case .queued(_, let job, let kind, let priority, let at, let recordedAt):
                guard case .queued(let q) = e.payload else { Issue.record("seq \(e.seq) is not a queued event"); continue }
                #expect(e.version == 1)
                #expect(job == e.job && kind == q.kind && priority == q.priority && at == q.runAt && recordedAt == e.recordedAt)
            case .event(let got):
                #expect(got == e)
                #expect(!(e.type == .queued && e.version == 1), "a job's first queued event should be read lean")
            }
        }
        if case .queued(_, _, _, let priority, let at, _) = page[0] { #expect(priority == -7 && at == runAt) } else { Issue.record("seq 1 not lean") }
        #expect(try await ledger.enginePage(from: 4, limit: 1).map(\.seq) == [4])
        // Read on the caller's thread (what an engine's round uses): the same page.
        #expect(try ledger.enginePageNow(from: 1, limit: 10).map(\.seq) == page.map(\.seq))
        if case .event(let e) = try ledger.enginePageNow(from: 4, limit: 1)[0] { #expect(e == full[3]) } else { Issue.record("seq 4 read lean") }
        #expect(try ledger.statesNow(of: [a, b, try JobID("nobody")]) == (try await ledger.states(of: [a, b])))
    }

    /// A first `queued` event whose payload has no kind (written by hand behind JobLedger's
    /// back) is not read lean: the page fails with the decoding error, and nothing crashes.
    @Test func aFirstQueuedEventWithoutAKindFailsThePageWithTheDecodingError() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config(clock: TestClock()))
        _ = try await ledger.append(NewEvent(job: jid("job-a"), payload: .queued(.init(kind: "render"))))
        let q = try rawQueue(path)
        try await q.write { db in
            try db.execute(sql: "DROP TRIGGER events_no_update")
            try db.execute(sql: #"UPDATE events SET payload = '{"input":{},"max_attempts":3,"priority":0}' WHERE seq = 1"#)
        }
        do {
            let page = try await ledger.enginePage(from: 1, limit: 10)
            Issue.record("read \(page.count) events of a log with a kindless queued event")
        } catch {
            // The log's own row: damage named by its seq, not bad input.
            guard case .storage(let message) = error, message.contains("the event at seq 1 (job \"job-a\") is not a valid event") else {
                Issue.record("wrong error: \(error)"); return
            }
        }
    }
}
