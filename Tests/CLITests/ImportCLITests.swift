import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

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
        let pipe = Pipe()
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
        try importer.run()
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

    @Test func aNonStringIdempotencyKeyIsRefusedWithItsLineNumber() async throws {
        let file = scratch.path("keys.ndjson")
        let text = [queuedLine("a", extra: #","idempotency_key":"k1""#), queuedLine("b", extra: #","idempotency_key":7"#)].joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let r = try await jobledger(["import", "--db", db, file], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["import failed at line 2", "'idempotency_key' must be a string, got a number (7)"])
        #expect(!scratch.exists("log.sqlite"), "a refused import creates no log")
    }

    /// Runs `jobledger args…` and returns its exit status, its stderr and its peak resident
    /// memory (`ru_maxrss` from `wait4`, this child's alone).
    func runMeasuringMemory(_ args: [String]) async throws -> (status: Int32, stderr: String, peakKilobytes: Int) {
        let binary = try #require(jobledgerBinary).path
        let err = scratch.path("measured.err")
        let argv = ([binary] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        try #require(spawned == 0, "posix_spawn failed: \(spawned)")
        let (status, usage) = try await within(240, "jobledger \(args.joined(separator: " ")) exiting",
                                               unblock: { [pid] in _ = kill(pid, SIGKILL) }) { [pid] in
            await withCheckedContinuation { (c: CheckedContinuation<(Int32, rusage), Never>) in
                Thread.detachNewThread {
                    var status: Int32 = 0
                    var usage = rusage()
                    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
                    c.resume(returning: (status, usage))
                }
            }
        }
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
        return (exitStatus, String(decoding: try fileBytes(err), as: UTF8.self), usage.ru_maxrss)
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
        expectRefusal(small, exit: 2, mentions: ["import failed at line 1", "longer than the limit of 50 bytes", "--max-line-bytes"])
    }
}
