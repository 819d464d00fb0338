import Foundation
import JobLedgerTestSupport
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// How an import reads its input: lines in linear time under a length limit, UTF-8 or refused,
/// and the whole input checked (and a pipe copied aside) before the log is written.
@Suite(.timeLimit(.minutes(5)))
struct ImportInputTests {
    /// A reader over bytes produced on demand by `next(count)`.
    func reader(maxLineBytes: Int, chunk: Int, _ next: @escaping (Int) -> [UInt8]) -> LineReader {
        LineReader(maxLineBytes: maxLineBytes, chunkSize: chunk) { buffer, count in
            let bytes = next(count)
            buffer.append(contentsOf: bytes)
            return bytes.count
        }
    }

    func reader(_ bytes: [UInt8], maxLineBytes: Int = 1 << 20, chunk: Int) -> LineReader {
        var offset = 0
        return reader(maxLineBytes: maxLineBytes, chunk: chunk) { count in
            let n = min(count, bytes.count - offset)
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
    }

    func readAll(_ r: inout LineReader) throws -> [String] {
        var lines: [String] = []
        while let line = try r.next() { lines.append(line) }
        return lines
    }

    func thrown(_ body: () throws -> Void) -> LedgerError? {
        do { try body(); return nil } catch let e as LedgerError { return e } catch { return .storage("unexpected \(error)") }
    }

    // MARK: - Reading lines

    @Test(arguments: [1, 2, 3, 7, 64, 1 << 16])
    func linesAreSplitTheSameWhateverTheChunkSize(chunk: Int) throws {
        var r = reader(Array("a\r\n\nbé\nlast".utf8), chunk: chunk)
        #expect(try readAll(&r) == ["a", "", "bé", "last"])
        #expect(r.lineNumber == 4)
        #expect(try r.next() == nil, "the end stays the end")
        var empty = reader([], chunk: chunk)
        #expect(try readAll(&empty).isEmpty)
    }

    @Test func aLongLineInSmallChunksIsReadWhole() throws {
        // 3 MiB in 1 KiB chunks: 3,072 reads. The old reader copied its whole buffer on every
        // read (Data(buffer) + chunk), about 4.7 GB of copying here; this one moves each byte
        // at most once.
        let long = String(repeating: "x", count: 3 << 20)
        var r = reader(Array(("short\n" + long + "\nend\n").utf8), maxLineBytes: 4 << 20, chunk: 1024)
        let lines = try readAll(&r)
        #expect(lines.count == 3)
        #expect(lines[0] == "short" && lines[1].utf8.count == 3 << 20 && lines[2] == "end")
        #expect(r.peakBufferedBytes <= (4 << 20) + 1024)
    }

    @Test func aHundredMegabyteLineIsRefusedWithoutBeingBuffered() throws {
        // The line is produced on demand: neither the test nor the reader ever holds it.
        let limit = LineReader.defaultMaxLineBytes, chunk = 1 << 16
        let first = Array("{\"job_id\":\"a\"}\n".utf8)
        var produced = 0
        let total = first.count + 100_000_000
        var r = reader(maxLineBytes: limit, chunk: chunk) { count in
            let n = min(count, total - produced)
            defer { produced += n }
            if produced < first.count { return Array(first[produced..<min(first.count, produced + n)]) }
            return [UInt8](repeating: UInt8(ascii: "x"), count: n)
        }
        #expect(try r.next() == "{\"job_id\":\"a\"}")
        let error = thrown { _ = try r.next() }
        guard case .importFailed(let line, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(line == 2)
        #expect(reason.contains("longer than the limit of \(limit) bytes"), "\(reason)")
        #expect(r.peakBufferedBytes <= limit + chunk, "held \(r.peakBufferedBytes) bytes")
        #expect(produced <= limit + 2 * chunk, "read \(produced) bytes of a line already known to be too long")
    }

    @Test func invalidUTF8IsRefusedWithItsLineNumberAndOffset() throws {
        var bytes = Array("ok\n".utf8)
        bytes += Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}\n".utf8)  // 0xC3 0x28: a broken 2-byte sequence
        var r = reader(bytes, chunk: 5)
        #expect(try r.next() == "ok")
        let error = thrown { _ = try r.next() }
        guard case .importFailed(let line, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(line == 2)
        #expect(reason.contains("not valid UTF-8") && reason.contains("offset 6"), "\(reason)")
    }

    // MARK: - Importing

    func queuedLine(_ job: String, extra: String = "") -> String {
        #"{"job_id":"\#(job)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}\#(extra)}"#
    }

    func file(_ dir: TempDir, _ name: String, _ bytes: [UInt8]) throws -> FileHandle {
        let path = dir.path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try #require(FileHandle(forReadingAtPath: path))
    }

    @Test func anImportWithInvalidUTF8ImportsNothing() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        // Line 2 names job "b\xFF": a byte that is never UTF-8.
        let bytes = Array((queuedLine("a") + "\n" + queuedLine("b@") + "\n").utf8).map { $0 == UInt8(ascii: "@") ? 0xFF : $0 }
        let error = await expectLedgerError { _ = try ledger.importNDJSON(from: try file(dir, "bad.ndjson", bytes)) }
        guard case .importFailed(2, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("not valid UTF-8"))
        #expect(try ledger.eventCount() == 0)
    }

    @Test(arguments: [(#"42"#, "a number (42)"), (#"{"k":1}"#, "an object"), ("true", "a boolean (true)"), (#"["k"]"#, "an array")])
    func aNonStringIdempotencyKeyIsRefusedNotDropped(key: String, says: String) async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let lines = [queuedLine("a", extra: #","idempotency_key":"fine""#), queuedLine("b", extra: #","idempotency_key":\#(key)"#)]
        let error = await expectLedgerError { _ = try ledger.importNDJSON(lines) }
        guard case .importFailed(2, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason == "'idempotency_key' must be a string, got \(says)")
        #expect(try ledger.eventCount() == 0)
        // A string key is kept, and null means no key.
        _ = try ledger.importNDJSON([lines[0], queuedLine("c", extra: #","idempotency_key":null"#)])
        var keys: [String?] = []
        try ledger.forEachRawEvent { keys.append($0.idempotencyKey) }
        #expect(keys == ["fine", nil])
    }

    @Test func aPipeIsReadToItsEndAndCopiedAsideBeforeTheImport() async throws {
        // Should the check fail early, the writer's next write must fail, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let pipe = childPipe()
        let text = (0..<200).map { queuedLine("job-\($0)") }.joined(separator: "\n") + "\n"
        // Written from another thread: 200 lines are more than a pipe holds.
        let writer = Thread {
            try? pipe.fileHandleForWriting.write(contentsOf: Data(text.utf8))
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        let checked = try CheckedImport.check(handle: pipe.fileHandleForReading)
        #expect(checked.lines == 200 && checked.events == 200 && checked.bytes == Int64(text.utf8.count))
        // The pipe is drained; the import reads the copy.
        let report = try ledger.importNDJSON(checked)
        #expect(report.events == 200 && report.jobs == 200)
        #expect(try ledger.verify().isValid)
    }

    @Test func theInputIsCheckedWhileAnotherWriterHoldsTheLock() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config(busy: .milliseconds(100)))
        _ = try await ledger.append(NewEvent(job: jid("first"), payload: queued))
        let holder = try rawQueue(path)
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        // Checking needs no lock: a good file passes and a bad one fails at its line, at once.
        let good = try CheckedImport.check(handle: try file(dir, "good.ndjson", Array((queuedLine("a") + "\n").utf8)))
        #expect(good.events == 1)
        let error = thrown { _ = try CheckedImport.check(handle: try file(dir, "bad.ndjson", Array((queuedLine("a") + "\n{\n").utf8))) }
        guard case .importFailed(2, _) = error else { Issue.record("got \(String(describing: error))"); return }
        // Appending does need it.
        let busy = await expectLedgerError { _ = try ledger.importNDJSON(good) }
        guard case .busy = busy else { Issue.record("got \(String(describing: busy))"); return }
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try holder.close()
        #expect(try ledger.importNDJSON(good).events == 1)
    }

    @Test func aFileChangedBetweenTheCheckAndTheImportImportsOnlyWhatWasChecked() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let path = dir.path("in.ndjson")
        try Data((queuedLine("a") + "\n" + queuedLine("b") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let checked = try CheckedImport.check(handle: try #require(FileHandle(forReadingAtPath: path)))
        // Grown after the check: the new line was never checked and is not imported.
        let grow = try #require(FileHandle(forWritingAtPath: path))
        try grow.seekToEnd()
        try grow.write(contentsOf: Data((queuedLine("c") + "\n").utf8))
        try grow.close()
        #expect(try ledger.importNDJSON(checked).events == 2)

        // Cut short after the check: refused, nothing imported.
        let other = try Ledger.open(path: dir.path("other.sqlite"))
        let checked2 = try CheckedImport.check(handle: try #require(FileHandle(forReadingAtPath: path)))
        try Data((queuedLine("x") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let error = await expectLedgerError { _ = try other.importNDJSON(checked2) }
        guard case .importFailed(_, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("the input changed after it was checked"), "\(reason)")
        #expect(try other.eventCount() == 0)
    }

    /// A line without hashes had its `version` and `seq` read as nothing: `"version":"banana"`
    /// was imported, and a hand-written `"version":1` `queued` line for a job that had failed
    /// in the log was taken as a requeue (version 4). A stated version is now the one the event
    /// must get, and both are whole numbers from 1.
    @Test func aStatedVersionOnALineWithoutHashesIsHeldTo() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let at = "2026-11-29T00:00:00Z"
        func line(_ job: String, _ type: String, _ extra: String = "", payload: String = #"{"kind":"design","max_attempts":1}"#) -> String {
            #"{"job_id":"\#(job)","type":"\#(type)","recorded_at":"\#(at)","payload":\#(payload)\#(extra)}"#
        }
        for (extra, why) in [(#","version":"banana""#, "'version' must be a whole number from 1, got a string"),
                             (#","version":0"#, "'version' must be a whole number from 1, got a number (0)"),
                             (#","seq":-3"#, "'seq' must be a whole number from 1, got a number (-3)")] {
            let e = thrown { _ = try ledger.importNDJSON([line("h-1", "queued", extra)]) }
            #expect(e == .importFailed(line: 1, reason: why), "\(extra)")
        }
        // A job that failed for good, then a hand-written queued line that says version 1.
        _ = try ledger.importNDJSON([
            line("h-2", "queued", #","version":1"#),
            line("h-2", "started", #","version":2"#, payload: #"{"worker":"w","attempt":1,"lease_deadline":"2030-01-01T00:00:00Z"}"#),
            line("h-2", "failed", "", payload: #"{"attempt":1,"code":"x","message":"m","retryable":false}"#),
        ])
        let e = thrown { _ = try ledger.importNDJSON([line("h-2", "queued", #","version":1,"seq":1"#)]) }
        #expect(e == .importFailed(line: 1, reason: "job h-2 would get version 4 here, the line says 1 (the job already has events in this log?)"))
        #expect(try ledger.eventCount() == 3)
        // Without a version it is a requeue, as the page says.
        _ = try ledger.importNDJSON([line("h-2", "queued")])
        #expect(try await ledger.state(of: JobID("h-2"))?.version == 4)
    }
}

/// An idempotency key already taken (in the log, or by an earlier line of the same file) makes
/// the append return the event that took it and write nothing: an import refuses the line
/// instead of counting it as imported.
@Suite struct ImportIdempotencyKeyTests {
    func queuedLine(_ job: String, extra: String = "") -> String { ImportInputTests().queuedLine(job, extra: extra) }

    @Test func aKeyAlreadyInTheLogIsRefusedNotDropped() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try ledger.importNDJSON([queuedLine("a", extra: #","idempotency_key":"k1""#)])
        let error = await expectLedgerError { _ = try ledger.importNDJSON([queuedLine("b"), queuedLine("c", extra: #","idempotency_key":"k1""#)]) }
        guard case .importFailed(2, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("'k1' is already used by job a at seq 1 of this log"), "\(reason)")
        #expect(try ledger.eventCount() == 1, "nothing of the refused import was written")
    }

    @Test func aByteOrderMarkIsNamed() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let error = await expectLedgerError { _ = try ledger.importNDJSON(["\u{FEFF}" + queuedLine("a")]) }
        guard case .importFailed(1, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("byte order mark"), "\(reason)")
    }

    @Test func twoLinesOfOneFileWithTheSameKeyAreRefused() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let lines = [queuedLine("d1", extra: #","idempotency_key":"same""#), queuedLine("d2", extra: #","idempotency_key":"same""#), queuedLine("d3")]
        let error = await expectLedgerError { _ = try ledger.importNDJSON(lines) }
        guard case .importFailed(2, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("already used by an earlier line of this import (job d1)"), "\(reason)")
        #expect(try ledger.eventCount() == 0)
    }
}
