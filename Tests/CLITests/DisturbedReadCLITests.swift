import Foundation
import JobLedger
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A writer that starts on a log while a read command reads it without locks (no `-wal` beside
/// it) and writes its file under the read: `verify`, `digest`, `jobs`, `history` and
/// `replay --check` read again with locks, but `diff`, `replay` (and `state`, `projections
/// status`) failed with exit 6 (`… was written while it was read without locks …; run the
/// command again`). They now read again with locks; `replay --effects`, whose lines go out
/// while it reads, reads with locks from the start.
///
/// The command is held in the middle of its read, deterministically: its stderr is a pipe the
/// test filled before it started, and `JOBLEDGER_PROGRESS=terminal` draws progress at the
/// 4,096th event, inside the read, which blocks until the test drains the pipe. The writer
/// runs once the command has opened the log (inotify), so between its open and its read's end.
@Suite struct DisturbedReadCLITests {
    /// A closed log of `jobs` queued jobs (the main file alone), written long ago.
    static func closedLog(_ path: String, jobs: Int) async throws {
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append((0..<jobs).map { j in
            NewEvent(job: try! JobID("job-\(j)"), payload: .queued(.init(kind: "echo")), recordedAt: Timestamp(milliseconds: 1_800_000_000_000 + Int64(j)))
        })
        try ledger.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // So that the writer's checkpoint changes the modification time, whatever its resolution.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_600_000_000)], ofItemAtPath: path)
    }

    /// A writer that starts on the log, appends one event and closes (checkpointing into the
    /// file when no one else has it open).
    static func writeOnce(_ path: String) async throws {
        let writer = try Ledger.open(path: path, create: false)
        _ = try await writer.append(NewEvent(job: try JobID("late"), payload: .queued(.init(kind: "echo"))))
        try writer.close()
    }

    #if os(Linux)
    @Test(arguments: [["diff", "--db", "log.sqlite", "@4100", "@4100"], ["replay", "--db", "log.sqlite", "--until-seq", "4100"],
                      ["replay", "--db", "log.sqlite", "--until-seq", "4100", "--effects"]])
    func aWriterThatWritesTheFileUnderTheReadDoesNotFailIt(args: [String]) async throws {
        let scratch = Scratch()
        let path = scratch.path("log.sqlite")
        try await Self.closedLog(path, jobs: 4100)
        let r = try await jobledgerHeldInItsRead(args, log: path, in: scratch) { try await Self.writeOnce(path) }
        #expect(r.status == 0, "\(r)")
        #expect(!r.stderr.contains("was written while it was read without locks"), "\(r)")
        if args[0] == "diff" {
            #expect(r.stdout.hasSuffix("no differences\n"), "\(r)")
        } else {
            #expect(r.stderr.contains("replayed 4100 events (through seq 4100"), "\(r)")
            #expect(r.stdout.contains("job-4099"), "\(r)")
        }
        // The writer's event is in the log, and nothing the reads made is left beside it.
        #expect(try Ledger.openReadOnly(path: path).eventCount() == 4101)
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.hasPrefix("log.sqlite") }
        #expect(left == ["log.sqlite"], "\(left)")
    }
    #endif
}

#if os(Linux)
/// Runs `jobledger args…` held in the middle of its read of `log`: stderr is a pipe filled
/// before the command starts, so its first progress line (`JOBLEDGER_PROGRESS=terminal`)
/// blocks it; `disturb` runs once the command has opened `log` with SQLite (its first open of
/// the file after the header check's, and so after it looked for a `-wal`), then the pipe is
/// drained and the command runs to its end. Otherwise as `jobledger(_:in:)`.
func jobledgerHeldInItsRead(_ args: [String], log: String, in scratch: Scratch, disturb: () async throws -> Void,
                            sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
    let binary = try #require(jobledgerBinary, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN")
    let watch = inotify_init1(Int32(IN_CLOEXEC))
    try #require(watch >= 0, "inotify_init1: \(errno)")
    defer { close(watch) }
    // Opens and closes: two opens in a row, unread, would be queued as one event.
    try #require(inotify_add_watch(watch, log, UInt32(IN_OPEN) | UInt32(IN_CLOSE_NOWRITE)) >= 0, "inotify_add_watch: \(errno)")

    // stderr: a pipe filled to the brim, so that the command's first write to it blocks.
    let errPipe = childPipe()
    let writeEnd = errPipe.fileHandleForWriting.fileDescriptor
    let flags = fcntl(writeEnd, F_GETFL)
    _ = fcntl(writeEnd, F_SETFL, flags | O_NONBLOCK)
    var filler = 0
    let chunk = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
    for size in [4096, 1] {
        while true {
            let n = chunk.withUnsafeBytes { write(writeEnd, $0.baseAddress, size) }
            guard n > 0 else { break }
            filler += n
        }
    }
    _ = fcntl(writeEnd, F_SETFL, flags)  // blocking again: shared with the child's descriptor

    let outURL = scratch.url.appendingPathComponent("stdout-\(UUID().uuidString)")
    try Data().write(to: outURL)
    defer { try? FileManager.default.removeItem(at: outURL) }
    let out = try FileHandle(forWritingTo: outURL)
    let process = cliProcess(binary, args, in: scratch, environment: ["JOBLEDGER_PROGRESS": "terminal"])
    process.standardOutput = out
    process.standardError = errPipe.fileHandleForWriting
    try startChild(process)
    try errPipe.fileHandleForWriting.close()
    try out.close()

    // Wait (off the cooperative pool) until the command has opened the log with SQLite: the
    // first open after the header check's open and close.
    let opened = await offPool { () -> Bool in
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var p = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 60_000) > 0 else { return false }
            let n = read(watch, &buffer, buffer.count)
            guard n > 0 else { return false }
            var offset = 0
            while offset + 16 <= n {  // struct inotify_event: wd, mask, cookie, len, name[len]
                let (mask, length) = buffer.withUnsafeBytes {
                    ($0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self), $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                }
                if mask & UInt32(IN_OPEN) != 0, closed { return true }
                if mask & UInt32(IN_CLOSE_NOWRITE) != 0 { closed = true }
                offset += 16 + Int(length)
            }
        }
    }
    // The open seen may be one of several the command makes before its read (its choice of a
    // read with or without locks is made again at each): the writer then ran before the read,
    // the command read with locks from the start, and the writer could not remove its `-wal`.
    // So wait until the command is blocked on the full pipe, inside its read, where the kernel
    // says so (`wchan`; where it does not, as before).
    let insideItsRead = await offPool { () -> Bool in
        let tasks = "/proc/\(process.processIdentifier)/task"
        for _ in 0..<6_000 {
            let ids = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
            let waits = ids.compactMap { try? String(contentsOfFile: "\(tasks)/\($0)/wchan", encoding: .utf8) }
            if waits.contains(where: { $0.hasSuffix("pipe_write") }) { return true }
            if !waits.isEmpty, waits.allSatisfy({ $0 == "0" || $0.isEmpty }) { return true }  // not told: go on
            if !process.isRunning { return false }
            usleep(10_000)
        }
        return false
    }
    if opened, insideItsRead {
        try await disturb()
    } else {
        Issue.record("jobledger \(args.joined(separator: " ")) did not open \(log) and block in its read within a minute", sourceLocation: sourceLocation)
    }
    let readEnd = errPipe.fileHandleForReading.fileDescriptor
    let err = await offPool { () -> [UInt8] in
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n > 0 { all += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return all
    }
    let exited = await offPool { waitForChildExit(process, within: .seconds(60)) }
    if !exited { Issue.record("jobledger \(args.joined(separator: " ")) did not exit; it was killed", sourceLocation: sourceLocation) }
    return CLIResult(arguments: args, status: process.terminationStatus,
                     stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                     stderr: String(decoding: err.dropFirst(filler), as: UTF8.self))
}
#endif
