import Foundation
import JobLedgerTestSupport
import Testing

/// `jobledger import` reads and checks its whole input before it takes the write lock, reads
/// lines in bounded memory, and refuses what it cannot import exactly.
@Suite(.timeLimit(.minutes(5)))
struct ImportCLITests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    func queuedLine(_ job: String, extra: String = "") -> String {
        #"{"job_id":"\#(job)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}\#(extra)}"#
    }

    struct Timeout: Error, CustomStringConvertible {
        let description: String
    }

    /// `body`'s result, or a failure naming `what` once `seconds` have passed. `unblock` is
    /// called then, to end what `body` waits for (a blocked write, a child process), so that
    /// the test ends instead of hanging.
    func within<T: Sendable>(_ seconds: Int, _ what: String, unblock: @escaping @Sendable () -> Void = {},
                             _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: .seconds(seconds)); return nil }
            guard let first = try await group.next(), let value = first else {
                unblock()
                group.cancelAll()
                throw Timeout(description: "\(what) did not happen within \(seconds) s")
            }
            group.cancelAll()
            return value
        }
    }

    /// Writes `data` to the handle on a thread of its own (a pipe's write blocks until the
    /// reader has made room) and returns when all of it is written.
    func write(_ data: Data, to handle: FileHandle) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                do { try handle.write(contentsOf: data); c.resume() } catch { c.resume(throwing: error) }
            }
        }
    }

    @Test func anImportFromASlowPipeDoesNotBlockOtherWriters() async throws {
        // A write to a pipe whose reader has gone must fail, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        try await logWithQueuedJob(db, in: scratch)
        let spoolFolder = scratch.path("tmp")
        try FileManager.default.createDirectory(atPath: spoolFolder, withIntermediateDirectories: true)
        let binary = try #require(jobledgerBinary)

        let count = 10_000
        let input = Data(((0..<count).map { queuedLine("imported-\($0)") }.joined(separator: "\n") + "\n").utf8)
        let pipe = childPipe()
        let out = scratch.path("import.out"), err = scratch.path("import.err")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let importer = Process()
        importer.executableURL = binary
        importer.arguments = ["import", "--db", db, "-"]
        importer.currentDirectoryURL = scratch.url
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "JOBLEDGER_DB")
        environment["TMPDIR"] = spoolFolder
        importer.environment = environment
        importer.standardInput = pipe.fileHandleForReading
        importer.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        importer.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        let (exited, exit) = AsyncStream<Int32>.makeStream()
        importer.terminationHandler = { p in exit.yield(p.terminationStatus); exit.finish() }
        try startChild(importer)
        let importerPID = importer.processIdentifier
        let stop: @Sendable () -> Void = { kill(importerPID, SIGKILL) }
        defer { if importer.isRunning { importer.terminate() } }

        // The pipe holds 64 KiB: once the first half (about 570 KiB) is written, the importer is
        // reading its input.
        let half = input.count / 2
        let writer = pipe.fileHandleForWriting
        try await within(120, "the importer reading the first half of its input", unblock: stop) {
            try await self.write(input.prefix(half), to: writer)
        }
        // The pipe stays open. Another writer appends meanwhile, without waiting for the import
        // (a held write lock would make it fail after its busy timeout, exit 5).
        let other = try await within(120, "an append while the import's input is still open", unblock: stop) {
            try await jobledger(["append", "--db", self.db, "--type", "queued", "--job", "meanwhile", "--payload", queuedPayload,
                                 "--busy-timeout", "3"], in: self.scratch)
        }
        #expect(other.status == 0, "an append while an import read a slow pipe: \(other)")
        #expect(importer.isRunning, "the importer must still be waiting for the rest of its input")

        try await within(120, "the importer reading the second half of its input", unblock: stop) {
            try await self.write(input.suffix(from: half), to: writer)
        }
        try writer.close()
        let status = try await within(300, "the import finishing once its input ended", unblock: stop) {
            for await status in exited { return status }
            return Int32(-1)
        }
        let stdout = String(decoding: try fileBytes(out), as: UTF8.self), stderr = String(decoding: try fileBytes(err), as: UTF8.self)
        #expect(status == 0, "import: \(stdout) \(stderr)")
        #expect(stdout.hasPrefix("imported \(count) events of \(count) jobs as seq 3…\(count + 2)"), "\(stdout)")
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.stdout.hasPrefix("ok: \(count + 2) events, \(count + 2) jobs"), "\(verify)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spoolFolder).isEmpty, "the copy of the input must be gone")
    }

    /// An import into a log whose blob projection had not yet taken in the log's own events
    /// (only submits, or a `work` running): the imported artefacts were taken in as uploads,
    /// whose bytes an export does not carry, and dead-lettered; `project --once` and `work
    /// --until-idle` then exited 7 for good, advising a re-drive that fails the same way.
    @Test func anImportIntoALogWhoseBlobProjectionIsBehindOwesNoUploads() async throws {
        let demo = try await jobledger(["demo", "--db", "a.sqlite", "--jobs", "3", "--fail-rate", "0"], in: scratch)
        #expect(demo.status == 0, "\(demo)")
        let export = try await jobledger(["export", "--db", "a.sqlite"], in: scratch)
        #expect(export.status == 0, "\(export)")
        try export.stdout.write(toFile: scratch.path("a.ndjson"), atomically: true, encoding: .utf8)
        let own = try await jobledger(["append", "--db", "b.sqlite", "--type", "queued", "--payload", #"{"kind":"noop"}"#], in: scratch)
        #expect(own.status == 0, "\(own)")
        let imported = try await jobledger(["import", "--db", "b.sqlite", "a.ndjson"], in: scratch)
        #expect(imported.status == 0 && imported.stdout.contains("as seq 2…"), "\(imported)")
        let once = try await jobledger(["project", "--db", "b.sqlite", "--once"], in: scratch)
        #expect(once.status == 0 && !once.stderr.contains("not staged"), "\(once)")
        let status = try await jobledger(["projections", "--db", "b.sqlite", "--json"], in: scratch)
        let blob = try #require(try parsedProjections(status.stdout).first { $0["name"] as? String == "blob" }, "\(status)")
        #expect(blob["dead"] as? Int == 0 && blob["pending"] as? Int == 0 && blob["lag"] as? Int == 0, "\(blob)")
        // A replay still lists them: it shows what the events mean, as the log they came from
        // made them (the preview and final image of each of the 3 jobs).
        let effects = try await jobledger(["replay", "--db", "b.sqlite", "--projection", "blob"], in: scratch)
        #expect(effects.status == 0 && effects.stdout.components(separatedBy: "\tupload\t").count - 1 == 6, "\(effects)")
    }

    /// The same export imported twice said "cannot apply 'queued' to a completed job", which
    /// sent the user looking for a broken lifecycle, not for the import they had already made.
    @Test(arguments: [false, true]) func anExportImportedAgainIsSaidToBeInTheLogAlready(intoALogWithEvents: Bool) async throws {
        let demo = try await jobledger(["demo", "--db", "a.sqlite", "--jobs", "2", "--fail-rate", "0"], in: scratch)
        #expect(demo.status == 0, "\(demo)")
        let export = try await jobledger(["export", "--db", "a.sqlite"], in: scratch)
        try export.stdout.write(toFile: scratch.path("a.ndjson"), atomically: true, encoding: .utf8)
        if intoALogWithEvents {
            let own = try await jobledger(["append", "--db", "b.sqlite", "--type", "queued", "--payload", #"{"kind":"noop"}"#], in: scratch)
            #expect(own.status == 0, "\(own)")
        }
        let first = try await jobledger(["import", "--db", "b.sqlite", "a.ndjson"], in: scratch)
        #expect(first.status == 0, "\(first)")
        let again = try await jobledger(["import", "--db", "b.sqlite", "a.ndjson"], in: scratch)
        let seq = intoALogWithEvents ? 2 : 1
        expectRefusal(again, exit: 2, mentions: ["import failed at line 1", "is already in this log, as seq \(seq), with the same payload",
                                                  "was imported before", "nothing was imported"])
        let verify = try await jobledger(["verify", "--db", "b.sqlite", "--json"], in: scratch)
        #expect(verify.status == 0 && verify.stdout.contains("\"events\":\(export.stdout.split(separator: "\n").count + (intoALogWithEvents ? 1 : 0))"), "\(verify)")
    }

    func parsedProjections(_ json: String) throws -> [[String: Any]] {
        let v = try JSONSerialization.jsonObject(with: Data(json.utf8))
        if let a = v as? [[String: Any]] { return a }
        if let o = v as? [String: Any], let a = o["projections"] as? [[String: Any]] { return a }
        return []
    }

    /// Another process makes the log while an import into a new path reads its input: the
    /// import said "already exists; import makes a new log only where none is" (exit 6), as if an
    /// import into that log were not possible. It says what happened, and what to run (exit 5,
    /// as for a log another writer holds); nothing of it is imported.
    @Test func aLogMadeWhileANewImportReadsItsInputIsSaid() async throws {
        // Over 64 KiB first: the pipe is full until the import reads, so the `submit` runs after
        // the import looked for the log (before it read a line) and found none.
        let line = queuedLine("imported-$i")
        let producer = "{ i=0; while [ $i -lt 1000 ]; do echo '\(line)' | sed \"s/\\$i/$i/\"; i=$((i+1)); done; "
            + "\"$JOBLEDGER_UNDER_TEST\" submit --db new.sqlite design >/dev/null 2>&1; echo '\(queuedLine("last"))'; } | "
        let r = try await jobledgerInShell("import --db new.sqlite -", setup: producer, in: scratch)
        expectRefusal(r, exit: 5, mentions: ["new.sqlite was made by another process while this import ran; nothing was imported: run the import again to add to that log"])
        let jobs = try await jobledger(["jobs", "--db", "new.sqlite", "--json"], in: scratch)
        #expect(jobs.status == 0 && !jobs.stdout.contains("imported-") && !jobs.stdout.contains("last"), "\(jobs)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".partial-") }.isEmpty, "no staging file left")
    }

    /// `--db` a symlink to a file not there yet: the new log is made at the link's target, as
    /// `submit` makes it. The import linked its log over the symlink, which failed, exit 6:
    /// "already exists; import makes a new log only where none is".
    @Test func anImportThroughASymlinkToNothingMakesTheLogAtItsTarget() async throws {
        let file = scratch.path("in.ndjson")
        try (queuedLine("a") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: scratch.path("t"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: scratch.path("l.sqlite"), withDestinationPath: "t/real.sqlite")
        let r = try await jobledger(["import", "--db", "l.sqlite", file], in: scratch)
        #expect(r.status == 0 && r.stderr == "jobledger: note: the lines carry no hash chain (as an export's do): each event was checked against the log's rules only\n", "\(r)")
        #expect(scratch.exists("t/real.sqlite"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.path("l.sqlite")) == "t/real.sqlite", "the link is left as it was")
        let jobs = try await jobledger(["jobs", "--db", "l.sqlite"], in: scratch)
        #expect(jobs.status == 0 && jobs.stdout.contains("a "), "\(jobs)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("t")) == ["real.sqlite"], "no staging file left")
    }

    @Test func invalidUTF8IsRefusedWithItsLineNumberAndNothingIsImported() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        // Line 3 names a job with a byte that is never UTF-8 (0xFF); a replacing reader would
        // have imported it as U+FFFD.
        let text = [queuedLine("a"), queuedLine("b"), queuedLine("c@")].joined(separator: "\n") + "\n"
        let file = scratch.path("bad.ndjson")
        try Data(Array(text.utf8).map { $0 == UInt8(ascii: "@") ? 0xFF : $0 }).write(to: URL(fileURLWithPath: file))
        let r = try await jobledger(["import", "--db", db, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 3", "not valid UTF-8", "nothing was imported"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    /// `replay` and `state` take times from 1970 to 9999 only; an import took a `recorded_at`
    /// before 1970 (a negative time), which no `--as-of` could then reach.
    @Test func aRecordedAtBefore1970IsRefusedWithItsLineNumberAndNothingIsImported() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let early = #"{"job_id":"b","type":"queued","recorded_at":"1969-12-31T23:59:59.999Z","payload":{"kind":"design"}}"#
        let file = scratch.path("early.ndjson")
        try Data([queuedLine("a"), early].joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
        let r = try await jobledger(["import", "--db", db, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 2", "'recorded_at' must be", "1970-01-01T00:00:00Z…9999-12-31T23:59:59.999Z",
                                             "1969-12-31T23:59:59.999Z", "nothing was imported"])
        #expect(try await snapshot(db, in: scratch) == before)

        // The first moment of 1970 is in range.
        let first = #"{"job_id":"c","type":"queued","recorded_at":"1970-01-01T00:00:00Z","payload":{"kind":"design"}}"#
        try Data(first.utf8).write(to: URL(fileURLWithPath: file))
        let ok = try await jobledger(["import", "--db", db, file], in: scratch)
        #expect(ok.status == 0, "\(ok)")
    }

    @Test func aNonStringIdempotencyKeyIsRefusedWithItsLineNumber() async throws {
        let file = scratch.path("keys.ndjson")
        let text = [queuedLine("a", extra: #","idempotency_key":"k1""#), queuedLine("b", extra: #","idempotency_key":7"#)].joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let r = try await jobledger(["import", "--db", db, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 2", "'idempotency_key' must be a string, got a number (7)"])
        #expect(!scratch.exists("log.sqlite"), "a refused import creates no log")
    }

    /// Runs `jobledger args…` and returns its exit status, its stderr and its peak resident
    /// memory. The child is started by a small Python process, whose `RUSAGE_CHILDREN` gives
    /// the child's `ru_maxrss`: started straight from this (large) test process, the child's
    /// figure would include this process's own peak, which Linux carries over at `exec`.
    func runMeasuringMemory(_ args: [String]) async throws -> (status: Int32, stderr: String, peakKilobytes: Int) {
        let binary = try #require(jobledgerBinary).path
        let script = """
            import json, resource, subprocess, sys
            try:
                r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=200)
                status, err = r.returncode, r.stderr.decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                status, err = -1, "killed after 200 s"
            print(json.dumps({"status": status, "stderr": err, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
            """
        let out = scratch.path("measured.json")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, binary] + args
        process.currentDirectoryURL = scratch.url
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let (exited, exit) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { p in exit.yield(p.terminationStatus); exit.finish() }
        try startChild(process)
        let pid = process.processIdentifier
        let status = try await within(240, "jobledger \(args.joined(separator: " ")) exiting", unblock: { kill(pid, SIGKILL) }) {
            for await status in exited { return status }
            return Int32(-1)
        }
        try #require(status == 0, "the measuring python3 process failed (exit \(status))")
        let report = try #require(try JSONSerialization.jsonObject(with: fileBytes(out)) as? [String: Any])
        return (Int32(try #require(report["status"] as? Int)), try #require(report["stderr"] as? String),
                try #require(report["maxrss_kb"] as? Int))
    }

    @Test func aHundredMegabyteLineIsRefusedWithoutBeingHeldInMemory() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        // Written a mebibyte at a time: the test does not hold the line either.
        let file = scratch.path("huge.ndjson")
        _ = FileManager.default.createFile(atPath: file, contents: Data((queuedLine("small") + "\n").utf8))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"job_id":"huge","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":""#.utf8))
        let mebibyte = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<100 { try handle.write(contentsOf: mebibyte) }
        try handle.write(contentsOf: Data("\"}}\n".utf8))
        try handle.close()

        let r = try await runMeasuringMemory(["import", "--db", db, file])
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("import failed at line 2: the line is longer than the limit of 4194304 bytes"), "\(r.stderr)")
        #expect(r.stderr.contains("nothing was imported"), "\(r.stderr)")
        // Holding the line even once would take 100 MiB; the reader holds at most 4 MiB + 64 KiB.
        #expect(r.peakKilobytes < 100 * 1024, "peak resident memory \(r.peakKilobytes) KiB")
        #expect(try await snapshot(db, in: scratch) == before)

        // The limit is a setting.
        let small = try await jobledger(["import", "--db", db, "--max-line-bytes", "50", file], in: scratch)
        expectRefusal(small, exit: 2, mentions: ["import failed at line 1", "longer than the limit of 50 bytes", "if the line is genuine (--max-line-bytes)"])
    }
}
