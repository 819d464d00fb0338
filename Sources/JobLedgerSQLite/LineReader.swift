import Foundation
import GRDB
import JobLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file (or standard input) line by line, in time linear in its size and in memory
/// bounded by the longest line allowed. A line longer than `maxLineBytes`, or one that is not
/// UTF-8, is refused with its number (`LedgerError.importFailed`); bytes are never replaced.
/// The reader holds at most `maxLineBytes + chunkSize` bytes: it stops at a line as soon as the
/// line is known to be too long, without reading the rest of it.
public struct LineReader {
    /// 4 MiB: far above a line of the largest payload the log accepts by default (64 KiB).
    public static let defaultMaxLineBytes = 4 << 20

    /// The longest line accepted, in bytes (without its line feed).
    public let maxLineBytes: Int
    /// How many bytes one read asks for.
    public let chunkSize: Int
    /// The number of the last line returned (1 for the first).
    public private(set) var lineNumber = 0
    /// The most bytes the reader has held at once.
    public private(set) var peakBufferedBytes = 0
    /// The bytes read from the source so far.
    public private(set) var bytesRead: Int64 = 0

    private var buffer: [UInt8] = []
    /// Where the current line starts in `buffer`.
    private var start = 0
    /// Bytes of `buffer` before this one hold no newline after `start`.
    private var scanned = 0
    private var atEOF = false
    /// Appends up to the given number of bytes to the buffer; returns how many (0 at the end).
    private let fill: (inout [UInt8], Int) throws(LedgerError) -> Int

    /// Reads from the handle's file descriptor, from its current offset to its end.
    public init(handle: FileHandle, maxLineBytes: Int = LineReader.defaultMaxLineBytes, chunkSize: Int = 1 << 16) {
        self.init(maxLineBytes: maxLineBytes, chunkSize: chunkSize) { [handle] buffer, count throws(LedgerError) in
            try LineReader.readChunk(handle.fileDescriptor, into: &buffer, upTo: count)
        }
    }

    init(maxLineBytes: Int, chunkSize: Int = 1 << 16, fill: @escaping (inout [UInt8], Int) throws(LedgerError) -> Int) {
        self.maxLineBytes = max(1, maxLineBytes)
        self.chunkSize = max(1, chunkSize)
        self.fill = fill
        buffer.reserveCapacity(2 * self.chunkSize)
    }

    /// The next line, without its line feed (and a carriage return before it), or nil at the
    /// end of the input. The last line needs no line feed.
    public mutating func next() throws(LedgerError) -> String? {
        while true {
            if let newline = firstNewline() {
                lineNumber += 1
                let from = start
                start = newline + 1
                scanned = start
                return try line(from..<newline)
            }
            scanned = buffer.count
            if buffer.count - start > maxLineBytes { throw tooLong(lineNumber + 1) }
            if atEOF {
                guard start < buffer.count else { return nil }
                lineNumber += 1
                let from = start
                start = buffer.count
                return try line(from..<buffer.count)
            }
            // Only the unfinished line is kept, moved to the front once: every byte is moved
            // at most once, so reading is linear however long the lines are.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                scanned -= start
                start = 0
            }
            let n = try fill(&buffer, chunkSize)
            if n == 0 { atEOF = true }
            bytesRead += Int64(n)
            peakBufferedBytes = max(peakBufferedBytes, buffer.count)
        }
    }

    private func firstNewline() -> Int? {
        guard scanned < buffer.count else { return nil }
        return buffer.withUnsafeBytes { b -> Int? in
            guard let found = memchr(b.baseAddress! + scanned, 0x0A, b.count - scanned) else { return nil }
            return b.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    private func line(_ range: Range<Int>) throws(LedgerError) -> String {
        var end = range.upperBound
        if end > range.lowerBound && buffer[end - 1] == 0x0D { end -= 1 }
        if end - range.lowerBound > maxLineBytes { throw tooLong(lineNumber) }
        let bytes = buffer[range.lowerBound..<end]
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .importFailed(line: lineNumber, reason: "the line is not valid UTF-8 (the bytes from offset \(LineReader.firstInvalidUTF8(bytes)) of the line are not UTF-8 text); an export is UTF-8, and bytes are never replaced: fix the file or export it again")
        }
        return text
    }

    private func tooLong(_ number: Int) -> LedgerError {
        .importFailed(line: number, reason: "the line is longer than the limit of \(maxLineBytes) bytes; raise the limit if the line is genuine")
    }

    /// The offset of the first byte that does not decode as UTF-8.
    static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        return offset
    }

    /// Appends up to `count` bytes read from `fd` to `buffer`; returns how many (0 at the end).
    static func readChunk(_ fd: Int32, into buffer: inout [UInt8], upTo count: Int) throws(LedgerError) -> Int {
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: count))
        var n: Int
        var failure: Int32 = 0
        repeat {
            n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, count) }
            failure = n < 0 ? errno : 0
        } while n < 0 && failure == EINTR
        buffer.removeLast(count - max(n, 0))
        if n < 0 { throw .storage("cannot read the input: \(String(cString: strerror(failure)))") }
        return n
    }
}
