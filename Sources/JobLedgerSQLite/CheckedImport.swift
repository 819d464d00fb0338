import Foundation
import GRDB
import JobLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An NDJSON export read to its end and checked line by line without the log: the first pass
/// of an import, done before any lock is taken. Each line is valid UTF-8 within the line-length
/// limit, a JSON object of known fields, with a payload that decodes; the file's own hash chain
/// holds. What only the log can say (transitions, versions, idempotency keys, the size limit)
/// is checked by `Ledger.importNDJSON(_:)`, which reads the input a second time inside its
/// transaction, checking every line again.
///
/// Standard input that is not a regular file (a pipe, a terminal) is copied to a temporary
/// file while it is checked, so that the transaction never waits for a slow writer at the other
/// end. The copy has no name from the moment it is created (it is unlinked at once) and is gone
/// when this value is.
public final class CheckedImport {
    /// Lines read, blank ones included.
    public let lines: Int
    /// Events found (non-blank lines).
    public let events: Int
    /// Lines, from the first, hashed under `HashChain.Rule.v1` (an export of a log older
    /// than schema v4): an import into an empty log keeps their rule.
    let leadingV1: Int
    /// True when the lines carry the hash chain (`payload_digest`, `prev_hash`, `hash`, as an
    /// export writes them), checked from line to line; false for lines without it (written by
    /// hand or another program), which nothing was checked against.
    public let chained: Bool
    /// Bytes read.
    public let bytes: Int64
    /// The line-length limit the input was checked against.
    public let maxLineBytes: Int
    private let source: Source

    private enum Source {
        case memory([String])
        /// A file descriptor this value owns, read again from `offset`.
        case file(fd: Int32, offset: off_t)
    }

    private init(lines: Int, events: Int, leadingV1: Int, chained: Bool, bytes: Int64, maxLineBytes: Int, source: Source) {
        self.lines = lines
        self.events = events
        self.leadingV1 = leadingV1
        self.chained = chained
        self.bytes = bytes
        self.maxLineBytes = maxLineBytes
        self.source = source
    }

    deinit {
        if case .file(let fd, _) = source { close(fd) }
    }

    /// Checks lines held in memory.
    public static func check<S: Sequence>(lines: S) throws(LedgerError) -> CheckedImport where S.Element == String {
        let all = Array(lines)
        var checker = ImportLineChecker()
        for (i, line) in all.enumerated() { _ = try checker.check(line, number: i + 1) }
        return CheckedImport(lines: all.count, events: checker.events, leadingV1: checker.leadingV1, chained: checker.isChained, bytes: all.reduce(0) { $0 + Int64($1.utf8.count) },
                             maxLineBytes: .max, source: .memory(all))
    }

    /// Reads the handle from its current offset to its end and checks every line. A regular
    /// file is read again in place by the import; anything else is copied aside as it is read.
    /// `progress` is called with the bytes read so far, every 4,096 lines and at the end.
    public static func check(handle: FileHandle, maxLineBytes: Int = LineReader.defaultMaxLineBytes,
                             progress: (Int64) -> Void = { _ in }) throws(LedgerError) -> CheckedImport {
        let fd = dup(handle.fileDescriptor)
        guard fd >= 0 else { throw .storage("cannot read the input: \(String(cString: strerror(errno)))") }
        var info = stat()
        let offset = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? lseek(fd, 0, SEEK_CUR) : -1
        if offset >= 0 {
            do {
                return try check(fd: fd, offset: offset, spool: nil, maxLineBytes: maxLineBytes, progress: progress)
            } catch {
                close(fd)
                throw error
            }
        }
        defer { close(fd) }
        let spool = try makeSpool()
        do {
            return try check(fd: fd, offset: 0, spool: spool, maxLineBytes: maxLineBytes, progress: progress)
        } catch {
            close(spool)
            throw error
        }
    }

    /// The first pass over `fd`, copying what it reads to `spool` when given. The value keeps
    /// the descriptor it reads again: `spool`, else `fd`.
    private static func check(fd: Int32, offset: off_t, spool: Int32?, maxLineBytes: Int,
                              progress: (Int64) -> Void) throws(LedgerError) -> CheckedImport {
        var reader = LineReader(maxLineBytes: maxLineBytes) { buffer, count throws(LedgerError) in
            let old = buffer.count
            let n = try LineReader.readChunk(fd, into: &buffer, upTo: count)
            if let spool, n > 0 { try writeAll(spool, buffer[old..<old + n]) }
            return n
        }
        var checker = ImportLineChecker()
        while let line = try reader.next() {
            _ = try checker.check(line, number: reader.lineNumber)
            if reader.lineNumber & 4095 == 0 { progress(reader.bytesRead) }
        }
        progress(reader.bytesRead)
        return CheckedImport(lines: reader.lineNumber, events: checker.events, leadingV1: checker.leadingV1, chained: checker.isChained, bytes: reader.bytesRead, maxLineBytes: maxLineBytes,
                             source: .file(fd: spool ?? fd, offset: spool == nil ? offset : 0))
    }

    /// Calls `body` with every line and its number, read again from the start.
    func forEachLine(_ body: (String, Int) throws -> Void) throws {
        switch source {
        case .memory(let all):
            for (i, line) in all.enumerated() { try body(line, i + 1) }
        case .file(let fd, let offset):
            guard lseek(fd, offset, SEEK_SET) == offset else {
                throw LedgerError.storage("cannot read the input again: \(String(cString: strerror(errno)))")
            }
            // No further than the first pass read: a file that grows meanwhile adds nothing.
            var remaining = bytes
            var reader = LineReader(maxLineBytes: maxLineBytes) { buffer, count throws(LedgerError) in
                guard remaining > 0 else { return 0 }
                let n = try LineReader.readChunk(fd, into: &buffer, upTo: Int(min(Int64(count), remaining)))
                remaining -= Int64(n)
                return n
            }
            while let line = try reader.next() { try body(line, reader.lineNumber) }
        }
    }

    /// An unnamed temporary file: created in the temporary folder (`TMPDIR`) and unlinked at
    /// once, so nothing is left behind whatever happens to the process.
    private static func makeSpool() throws(LedgerError) -> Int32 {
        let folder = FileManager.default.temporaryDirectory.path
        var template = Array((folder + "/jobledger-import-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw .storage("cannot create a temporary file in \(folder) to hold the input while it is checked (\(String(cString: strerror(errno)))); set TMPDIR to a writable folder with room for it")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(LedgerError) {
        var failure: Int32 = 0
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = write(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 {
            throw .storage("cannot copy the input to a temporary file (\(String(cString: strerror(failure)))); set TMPDIR to a folder with room for it")
        }
    }
}
