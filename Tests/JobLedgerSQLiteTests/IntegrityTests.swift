import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

@Suite struct IntegrityTests {
    /// A log of 4 jobs × 6 events (seq 1…24), job by job.
    func makeLog(_ dir: TempDir) async throws -> (Ledger, String) {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        for j in 0..<4 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        return (ledger, path)
    }

    @Test func theDatabaseRefusesUpdateAndDelete() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        let q = try rawQueue(path)
        for sql in ["UPDATE events SET payload = '{}' WHERE seq = 3", "DELETE FROM events WHERE seq = 24", "DELETE FROM events"] {
            #expect { try q.write { try $0.execute(sql: sql) } } throws: { error in
                (error as? DatabaseError)?.message?.contains("append-only") == true
            }
        }
        #expect(try ledger.eventCount() == 24)
        #expect(try ledger.verify().isValid)
    }

    /// Only the type's CHECK may refuse this row: it is the log's last row (valid in every
    /// column, whatever columns the schema has) copied as the same job's next version, with a
    /// fresh hash, no idempotency key, and type 'exploded'. The same row with a known type is
    /// accepted (and rolled back), so a schema without the type CHECK fails this test.
    @Test func theDatabaseRefusesUnknownEventTypes() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        let q = try rawQueue(path)
        let columns = try await q.read { db in try Row.fetchAll(db, sql: "PRAGMA table_info(events)").map { $0["name"] as String } }
        let copied = columns.filter { $0 != "seq" }
        func insert(type: String) -> String {
            let values = copied.map { c -> String in
                switch c {
                case "version": "version + 1"
                case "type": "'\(type)'"
                case "idempotency_key": "NULL"
                case "prev_hash": "hash"
                case "hash": "'\(String(repeating: "ab", count: 32))'"
                default: c
                }
            }
            return "INSERT INTO events (\(copied.joined(separator: ", "))) SELECT \(values.joined(separator: ", ")) FROM events ORDER BY seq DESC LIMIT 1"
        }
        // Control: with a type the vocabulary has, the very same row goes in.
        func control() throws {
            try q.inTransaction { db in
                try db.execute(sql: insert(type: "progress"))
                #expect(db.changesCount == 1)
                return .rollback
            }
        }
        try control()
        let error = #expect(throws: DatabaseError.self) { try q.write { try $0.execute(sql: insert(type: "exploded")) } }
        #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK, "\(String(describing: error))")
        #expect(error?.message?.contains("CHECK constraint failed: type = 'queued' OR") == true, "\(String(describing: error))")
        #expect(try ledger.eventCount() == 24)
    }

    /// Drops the triggers, as someone editing the file behind JobLedger's back would.
    func tamper(_ path: String, _ sql: String) throws {
        let q = try rawQueue(path)
        try q.write { db in
            try db.execute(sql: "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete")
            try db.execute(sql: sql)
        }
    }

    @Test func aChangedPayloadFailsAtItsSeq() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        try tamper(path, "UPDATE events SET payload = '{\"attempt\":1,\"fraction\":0.3,\"message\":\"step\"}' WHERE seq = 9")
        let p = try #require(try ledger.verify().problem)
        #expect(p.seq == 9)
        #expect(p.message.contains("payload changed"))
    }

    @Test func aChangedPayloadWithARecomputedDigestStillFails() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        let text = "{\"attempt\":1,\"fraction\":0.3,\"message\":\"step\"}"
        try tamper(path, "UPDATE events SET payload = '\(text)', payload_digest = '\(Digest.sha256Hex(text))' WHERE seq = 9")
        let p = try #require(try ledger.verify().problem)
        #expect(p.seq == 9)
        #expect(p.message.contains("hash does not match"))
    }

    /// A U+FFFD in a payload or key swapped for an invalid byte behind the log's back: the text
    /// read back (Swift repairs the byte to U+FFFD) is the recorded one, so the digest and the
    /// hash checked out and `verify` passed a file whose bytes had changed. The replacement is
    /// one byte for three, two (a cut 4-byte sequence, repaired to one U+FFFD) and three.
    @Test(arguments: [("payload", "x'FF'"), ("payload", "x'F09F98'"), ("idempotency_key", "x'E0'")])
    func aReplacementCharacterSwappedForInvalidBytesFailsAtItsSeq(column: String, bytes: String) async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(lifecycle(jid("job-0")))
        let e = try await ledger.append(NewEvent(job: jid("job-1"), payload: .queued(.init(kind: "design", input: ["note": "x\u{FFFD}y"])),
                                                 idempotencyKey: "key-\u{FFFD}"))
        let head = try #require(try ledger.head())
        try tamper(path, "UPDATE events SET \(column) = CAST(replace(CAST(\(column) AS BLOB), x'EFBFBD', \(bytes)) AS TEXT) WHERE seq = \(e.seq)")
        let changed = try await rawQueue(path).read { db in try Data.fetchOne(db, sql: "SELECT CAST(\(column) AS BLOB) FROM events WHERE seq = ?", arguments: [e.seq]) }
        #expect(changed.map { String(data: $0, encoding: .utf8) == nil } == true, "the bytes are no longer UTF-8")
        let reopened = try Ledger.openReadOnly(path: path)
        let report = try reopened.verify(expectHead: head)
        let p = try #require(report.problem)
        #expect(p.seq == e.seq)
        #expect(p.message.contains("its \(column) is not valid UTF-8 text"), "\(p.message)")
        // Reading the event says so too, rather than handing out the repaired text.
        #expect(throws: LedgerError.self) { try reopened.forEachEvent(of: jid("job-1")) { _ in } }
    }

    /// A NUL and more appended to a stored payload: the text read stops at the NUL, so it is
    /// the recorded text, and its digest and hash checked out (`verify --expect-head` passed).
    @Test func aNULAndMoreAppendedToAPayloadFailsAtItsSeq() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        let head = try #require(try ledger.head())
        try tamper(path, "UPDATE events SET payload = CAST(CAST(payload AS BLOB) || x'0048494444454E' AS TEXT) WHERE seq = 9")
        let p = try #require(try Ledger.openReadOnly(path: path).verify(expectHead: head).problem)
        #expect(p.seq == 9)
        #expect(p.message.contains("its payload is not valid UTF-8 text, or holds a NUL"), "\(p.message)")
    }

    @Test func aDeletedRowFailsAtTheMissingSeq() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        try tamper(path, "DELETE FROM events WHERE seq = 14")
        let p = try #require(try ledger.verify().problem)
        #expect(p.seq == 14)
        #expect(p.message.contains("missing"))
    }

    /// A row put in by hand at seq 0 (or below) came first in seq order and was called "out
    /// of order after seq 0"; one past the head, a gap of "N events deleted".
    @Test func aRowPutInByHandIsSaidToBe() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        var rows: [RawEvent] = []
        try ledger.forEachRawEvent { rows.append($0) }
        let copy = rows[0]
        try tamper(path, "INSERT INTO events (\(RawEvent.columns)) VALUES (0, 'x', 1, 'queued', '\(copy.payload)', \(copy.recordedAt.milliseconds), NULL, '\(copy.payloadDigest)', '\(copy.prevHash)', '\(copy.hash)')")
        let low = try #require(try ledger.verify().problem)
        #expect(low.seq == 0 && low.message == "seq 0 is not one an append gives (seqs start at 1): the row was put in by hand", "\(low)")
        let head = rows.count
        try await rawQueue(path).write { try $0.execute(sql: "DELETE FROM events WHERE seq = 0") }
        try await rawQueue(path).write { try $0.execute(sql: "INSERT INTO events (\(RawEvent.columns)) VALUES (\(head + 5), 'x', 1, 'queued', '\(copy.payload)', \(copy.recordedAt.milliseconds), NULL, '\(copy.payloadDigest)', '\(copy.prevHash)', '\(copy.hash)')") }
        let gap = try #require(try ledger.verify().problem)
        #expect(gap.seq == Int64(head + 1) && gap.message.contains("(4 seqs with no event: deleted, or the event at seq \(head + 5) was put in by hand)"), "\(gap)")
    }

    @Test func aRewrittenChainStillBreaksTheLifecycleOrVersions() async throws {
        // Someone deletes a job's 'started' and renumbers every later seq, and recomputes every
        // prev_hash and hash, so that the chain itself is valid again: the versions (or, with
        // the versions renumbered too, the transitions) still give it away.
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try await ledger.append(lifecycle(jid("j")))
        var rows: [RawEvent] = []
        try ledger.forEachRawEvent { rows.append($0) }
        rows.remove(at: 1)  // 'started'
        for i in rows.indices { rows[i].seq = Int64(i + 1) }

        let gap = try forgedLog(rechained(rows), in: dir)
        let g = try gap.verify()
        #expect(g.problem?.seq == 2)
        #expect(g.problem?.message.contains("job j has version 3 here, expected 2") == true, "\(String(describing: g.problem))")

        for i in rows.indices { rows[i].version = i + 1 }
        let illegal = try forgedLog(rechained(rows), in: dir)
        let t = try illegal.verify()
        #expect(t.problem?.seq == 2)
        #expect(t.problem?.message.contains("illegal transition") == true, "\(String(describing: t.problem))")
        #expect(t.problem?.message.contains("needs a running job") == true, "\(String(describing: t.problem))")
    }

    /// Another program's payload text (white space here), with its digest and the chain made to
    /// match: the log is intact, and verify says so, but lists the event, since an export of it
    /// would not import.
    @Test func aPayloadNotInCanonicalFormIsListedNotFailed() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try await ledger.append(lifecycle(jid("j")))
        var rows: [RawEvent] = []
        try ledger.forEachRawEvent { rows.append($0) }
        rows[1].payload = rows[1].payload.replacingOccurrences(of: ",", with: ", ")
        rows[1].payloadDigest = Digest.sha256Hex(rows[1].payload)
        let forged = try forgedLog(rechained(rows), in: dir)
        let report = try forged.verify()
        #expect(report.isValid, "\(String(describing: report.problem))")
        #expect(report.nonCanonical == [2] && report.nonCanonicalCount == 1)
        #expect(try ledger.verify().nonCanonicalCount == 0, "what jobledger writes is canonical")
    }

    /// A writer's clock that stepped back: `recorded_at` goes down from one event to the next
    /// (seq order). The log is intact, so verify passes, but it says how often and where first,
    /// also when it carries on from an earlier verification.
    @Test func aRecordedTimeGoingBackwardsIsCountedNotFailed() async throws {
        let dir = TempDir()
        let clock = TestClock()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config(clock: clock))
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        clock.advance(1_000)
        _ = try await ledger.append(NewEvent(job: jid("b"), payload: queued))
        let (before, next) = try ledger.verify(continuing: nil)
        #expect(before.timeBackwardsCount == 0 && before.timeBackwardsFirst == nil)

        clock.advance(-5_000)  // seq 3, earlier than seq 2; seq 4 at the same time as 3; seq 5 earlier again
        _ = try await ledger.append(NewEvent(job: jid("c"), payload: queued))
        _ = try await ledger.append(NewEvent(job: jid("d"), payload: queued))
        clock.advance(-1)
        _ = try await ledger.append(NewEvent(job: jid("e"), payload: queued))
        let report = try ledger.verify()
        #expect(report.isValid, "\(String(describing: report.problem))")
        #expect(report.timeBackwardsCount == 2 && report.timeBackwardsFirst == 3)
        // Carried on from seq 2: the step back at seq 3 is measured against seq 2's time.
        let carried = try ledger.verify(continuing: next).report
        #expect(carried.isValid && carried.events == 5)
        #expect(carried.timeBackwardsCount == 2 && carried.timeBackwardsFirst == 3)
    }

    @Test func truncationIsCaughtOnlyByTheExpectedHead() async throws {
        let dir = TempDir()
        let (ledger, path) = try await makeLog(dir)
        let head = try #require(try ledger.head())
        #expect(head.seq == 24)
        try tamper(path, "DELETE FROM events WHERE seq > 20")
        #expect(try ledger.verify().problem == nil)  // every remaining link is fine (the dropped triggers are named apart)
        let p = try #require(try ledger.verify(expectHead: head).problem)
        #expect(p.seq == 24)
        #expect(p.message.contains("cut off the end"))
    }

    @Test func aForgedHeadWithTheRightSeqIsCaught() async throws {
        let dir = TempDir()
        let (ledger, _) = try await makeLog(dir)
        let head = try #require(try ledger.head())
        #expect(try ledger.verify(expectHead: head).isValid)
        let other = ChainHead(seq: 24, hash: String(repeating: "a", count: 64))
        #expect(try ledger.verify(expectHead: other).problem?.seq == 24)
        // An older head is still reached by a longer log.
        #expect(try ledger.verify(expectHead: ChainHead(seq: 6, hash: try ledger.headHash(at: 6))).isValid)
    }

    @Test func exportThenImportIntoAnEmptyLogReproducesTheChain() async throws {
        let dir = TempDir()
        let (ledger, _) = try await makeLog(dir)
        let lines = try collectExport(ledger)
        #expect(lines.count == 24)
        let copy = try Ledger.open(path: dir.path("copy.sqlite"))
        let report = try copy.importNDJSON(lines)
        #expect(report.events == 24 && report.jobs == 4)
        #expect(try copy.head() == ledger.head())
        #expect(try collectExport(copy) == lines)
    }

    @Test func importIsAllOrNothing() async throws {
        let dir = TempDir()
        let (ledger, _) = try await makeLog(dir)
        // A hand-made NDJSON file without chain fields, in which job-3 loses its 'started':
        // its first progress (now line 20) is refused on re-validation.
        var lines = try collectExport(ledger).map { line -> String in
            guard case .object(var o) = try JSONValue(parsing: line) else { return line }
            for k in ["seq", "version", "payload_digest", "prev_hash", "hash"] { o[k] = nil }
            return JSONValue.object(o).canonicalText
        }
        lines.remove(at: 19)
        let target = try Ledger.open(path: dir.path("target.sqlite"))
        _ = try await target.append(NewEvent(job: jid("existing"), payload: queued))
        let error = await expectLedgerError { _ = try target.importNDJSON(lines) }
        guard case .importFailed(let line, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(line == 20)
        #expect(reason.contains("needs a running job"))
        #expect(try target.eventCount() == 1)
        // A malformed line is named too.
        var broken = try collectExport(ledger)
        broken[4] = "{not json"
        let e2 = await expectLedgerError { _ = try target.importNDJSON(broken) }
        guard case .importFailed(5, _) = e2 else { Issue.record("got \(String(describing: e2))"); return }
        #expect(try target.eventCount() == 1)
    }

    @Test func anEditedExportIsRefused() async throws {
        let dir = TempDir()
        let (ledger, _) = try await makeLog(dir)
        var lines = try collectExport(ledger)
        lines[2] = lines[2].replacingOccurrences(of: "0.25", with: "0.26")
        let target = try Ledger.open(path: dir.path("t.sqlite"))
        let error = await expectLedgerError { _ = try target.importNDJSON(lines) }
        guard case .importFailed(3, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("payload_digest"))
        #expect(try target.eventCount() == 0)
    }

    @Test func strippingTheChainFromOneLineIsRefused() async throws {
        let dir = TempDir()
        let (ledger, _) = try await makeLog(dir)
        var lines = try collectExport(ledger)
        // Drop all chain fields of the last line and change its payload: the lines before it
        // carried a chain, so this one must too.
        guard case .object(var o) = try JSONValue(parsing: lines[23]) else { Issue.record("not an object"); return }
        for k in ["payload_digest", "prev_hash", "hash"] { o[k] = nil }
        o["payload"] = .object(["output": .object(["ok": .bool(false)])])
        lines[23] = JSONValue.object(o).canonicalText
        let target = try Ledger.open(path: dir.path("t.sqlite"))
        let error = await expectLedgerError { _ = try target.importNDJSON(lines) }
        guard case .importFailed(24, _) = error else { Issue.record("got \(String(describing: error))"); return }
        // Only one of the three is refused as well.
        guard case .object(var p) = try JSONValue(parsing: try collectExport(ledger)[0]) else { return }
        p["hash"] = nil
        let e2 = await expectLedgerError { _ = try target.importNDJSON([JSONValue.object(p).canonicalText]) }
        guard case .importFailed(1, _) = e2 else { Issue.record("got \(String(describing: e2))"); return }
        #expect(try target.eventCount() == 0)
    }

    func collectExport(_ ledger: Ledger) throws -> [String] {
        var lines: [String] = []
        try ledger.exportNDJSON { lines.append($0) }
        return lines
    }
}
