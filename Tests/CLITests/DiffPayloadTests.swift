import Foundation
import JobLedger
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// `diff` compared only the rebuilt rows, which hold no input or output: two logs whose jobs
/// took other inputs (or gave other outputs) at the same times said "no differences", exit 0,
/// though Replay.md uses `diff` to check an exported copy against its original. Each job's
/// events' payload digests are compared too, naming the first event whose payload differs.
@Suite struct DiffPayloadTests {
    /// A log with one job, queued then canceled at fixed times, whose input is `input`.
    static func log(_ path: String, input: JSONValue, key: String? = nil, progressAfter: Int64 = 600) async throws {
        let ledger = try Ledger.open(path: path)
        let job = try JobID("job-1")
        _ = try await ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "echo", input: input)), idempotencyKey: key,
                                             recordedAt: Timestamp(milliseconds: 1_800_000_000_000)))
        _ = try await ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 1_800_000_600_000))),
                                             recordedAt: Timestamp(milliseconds: 1_800_000_000_500)))
        _ = try await ledger.append(NewEvent(job: job, payload: .progress(.init(fraction: 0.5, attempt: 1)), recordedAt: Timestamp(milliseconds: 1_800_000_000_000 + progressAfter)))
        _ = try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: "enough")), recordedAt: Timestamp(milliseconds: 1_800_000_001_000)))
    }

    @Test func jobsWithOtherInputsDiffer() async throws {
        let scratch = Scratch()
        try await Self.log(scratch.path("a.sqlite"), input: ["n": 1])
        try await Self.log(scratch.path("b.sqlite"), input: ["n": 2])
        try await Self.log(scratch.path("c.sqlite"), input: ["n": 1])
        let r = try await jobledger(["diff", "a.sqlite", "b.sqlite"], in: scratch)
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.contains("~ job-1\n    events: payload differs from version 1 (seq 1 on the left, seq 1 on the right)\n1 job differs"), "\(r.stdout)")
        let json = try await jobledger(["diff", "--json", "a.sqlite", "b.sqlite"], in: scratch)
        #expect(json.status == 1 && (try? JSONValue(parsing: json.stdout)) == .array([
            ["job": "job-1", "fields": .object([:]), "events": ["version": 1, "left_seq": 1, "right_seq": 1, "fields": ["payload"]]],
        ]), "\(json.stdout)")
        let same = try await jobledger(["diff", "a.sqlite", "c.sqlite"], in: scratch)
        #expect(same.status == 0 && same.stdout.hasSuffix("no differences\n"), "\(same)")
    }

    /// A payload edited in the file behind the log's back, its stored digest left as it was:
    /// `diff` compared the stored digests and said "no differences", exit 0, where `verify`
    /// fails at that seq. Comparing a kept backup with the live log is what it is for.
    @Test func aPayloadEditedBehindTheLogsBackDiffers() async throws {
        let scratch = Scratch()
        try await Self.log(scratch.path("a.sqlite"), input: ["prompt": "a red bicycle"])
        try FileManager.default.copyItem(atPath: scratch.path("a.sqlite"), toPath: scratch.path("b.sqlite"))
        try rawSQL(scratch.path("b.sqlite"), "DROP TRIGGER events_no_update; UPDATE events SET payload = json_set(payload, '$.input.prompt', 'something else') WHERE seq = 1")
        let verify = try await jobledger(["verify", "--db", "b.sqlite"], in: scratch)
        #expect(verify.status == 1 && verify.stdout.contains("FAILED at seq 1"), "\(verify)")
        let r = try await jobledger(["diff", "a.sqlite", "b.sqlite"], in: scratch)
        #expect(r.status == 1 && r.stdout.contains("events: payload differs from version 1 (seq 1 on the left, seq 1 on the right)"), "\(r)")
    }

    /// Events that differ only in when they were recorded, or in their idempotency key: the
    /// rows (which hold only the last event's time) and the payloads agree, and `diff` said "no
    /// differences", exit 0, of two histories that `history` and `state --as-of` tell apart.
    @Test func eventsRecordedAtOtherTimesOrWithOtherKeysDiffer() async throws {
        let scratch = Scratch()
        try await Self.log(scratch.path("a.sqlite"), input: ["n": 1], key: "k1")
        try await Self.log(scratch.path("b.sqlite"), input: ["n": 1], key: "k2")
        let r = try await jobledger(["diff", "a.sqlite", "b.sqlite"], in: scratch)
        #expect(r.status == 1 && r.stdout.contains("events: idempotency key differs from version 1 (seq 1 on the left, seq 1 on the right)"), "\(r)")
        // The same last time, so the same row; the progress before it was recorded later.
        try await Self.log(scratch.path("c.sqlite"), input: ["n": 1], key: "k1", progressAfter: 900)
        let t = try await jobledger(["diff", "a.sqlite", "c.sqlite"], in: scratch)
        #expect(t.status == 1 && t.stdout.contains("~ job-1\n    events: time differs from version 3 (seq 3 on the left, seq 3 on the right)\n1 job differs"), "\(t)")
        let json = try await jobledger(["diff", "--json", "a.sqlite", "c.sqlite"], in: scratch)
        #expect(json.status == 1 && (try? JSONValue(parsing: json.stdout)) == .array([
            ["job": "job-1", "fields": .object([:]), "events": ["version": 3, "left_seq": 3, "right_seq": 3, "fields": ["recorded_at"]]],
        ]), "\(json.stdout)")
    }

    /// A side's file that is not there was blamed on --db, though its path was an argument.
    @Test func aMissingSideIsNamedAsTheSideNotAsDB() async throws {
        let scratch = Scratch()
        try await Self.log(scratch.path("a.sqlite"), input: ["n": 1])
        let r = try await jobledger(["diff", "a.sqlite", "nope.sqlite@5"], in: scratch)
        #expect(r.status == 4 && r.stderr.contains("no JobLedger log at nope.sqlite (the right side, 'nope.sqlite@5')") && !r.stderr.contains("--db"), "\(r)")
        let db = try await jobledger(["diff", "--db", "gone.sqlite", "@1", "@2"], in: scratch)
        #expect(db.status == 4 && db.stderr.contains("check --db"), "\(db)")
    }

    /// A point past the head was taken silently (`@1000` of a 4-event log), where `replay` and
    /// `state` say it is the log as it is now.
    @Test func aSeqPastTheHeadIsSaid() async throws {
        let scratch = Scratch()
        try await Self.log(scratch.path("a.sqlite"), input: ["n": 1])
        let r = try await jobledger(["diff", "--db", "a.sqlite", "@1", "@1000"], in: scratch)
        #expect(r.status == 1 && r.stderr.contains("note: seq 1000 is past the head of a.sqlite (seq 4): that side is the log as it is now"), "\(r)")
    }
}
