import Foundation

/// Committed transactions in a log's `-wal` that SQLite does not read. SQLite reads the `-wal`
/// frame by frame, each checked by its salts and a checksum chained from the frame before, and
/// stops at the first that fails: the transactions committed after a damaged frame are dropped
/// without a word. `verify` said ok, and `digest` printed a head to keep, of a log whose `-wal`
/// had one flipped byte in a frame with several transactions after it (outside audit). The
/// format is SQLite's (https://www.sqlite.org/fileformat.html, "The Write-Ahead Log").
enum WALFrames {
    /// Where SQLite stops reading, and what it leaves unread.
    struct Damage: Equatable {
        /// The first frame that fails its check (0-based); nil when the header itself does.
        var frame: Int?
        /// Commit frames of this `-wal` (its salts) from the damaged one on: the transactions
        /// dropped (the damaged frame's own, when it is a commit frame, included).
        var droppedCommits: Int
        /// Frames in the file.
        var frames: Int

        var description: String {
            let at = frame.map { "a damaged frame (frame \($0 + 1) of \(frames))" } ?? "a damaged header"
            return "its -wal holds \(droppedCommits) committed transaction\(droppedCommits == 1 ? "" : "s") from \(at) on, "
                + "which SQLite stops reading before when it recovers the -wal: what they wrote is not in the log as read"
        }
    }

    /// The damage of the `-wal` at `path`, if any; nil for none, no file, or one that is not a
    /// `-wal`. Read twice: a frame seen while a writer rewrote it under the read (SQLite
    /// rewrites the checksums of a transaction's frames as it commits) is not damage. Damage
    /// in the last transaction alone is not reported: it reads as a write torn by a crash,
    /// which SQLite rolls back by design.
    static func damage(path: String) -> Damage? {
        guard let first = read(path) else { return nil }
        usleep(20_000)
        return read(path) == first ? first : nil
    }

    private static func read(_ path: String) -> Damage? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 32), header.count == 32 else { return nil }
        let h = [UInt8](header)
        let magic = word(h, 0, bigEndian: true)
        guard magic == 0x377F_0682 || magic == 0x377F_0683 else { return nil }
        let bigEndian = magic & 1 == 1
        // The format version SQLite writes (3007000); with another, SQLite ignores the -wal.
        guard word(h, 4, bigEndian: true) == 3_007_000 else { return nil }
        let pageSize = Int(word(h, 8, bigEndian: true))
        guard pageSize >= 512, pageSize <= 65_536, pageSize & (pageSize - 1) == 0 else { return nil }
        let salts = (word(h, 16, bigEndian: true), word(h, 20, bigEndian: true))
        var sum = (UInt32(0), UInt32(0))
        checksum(h[0..<24], bigEndian: bigEndian, &sum)
        // A header whose checksum fails makes SQLite ignore the whole -wal.
        var firstBad: Int? = sum == (word(h, 24, bigEndian: true), word(h, 28, bigEndian: true)) ? nil : -1
        var dropped = 0, frames = 0, ownCommit = false
        while let data = try? handle.read(upToCount: 24 + pageSize), data.count == 24 + pageSize {
            let f = [UInt8](data.prefix(24))  // the frame header; its page is read in place
            defer { frames += 1 }
            let ownSalts = (word(f, 8, bigEndian: true), word(f, 12, bigEndian: true)) == salts
            if firstBad == nil {
                var s = sum
                checksum(f[0..<8], bigEndian: bigEndian, &s)
                checksum(data, from: 24, bigEndian: bigEndian, &s)
                if ownSalts, word(f, 0, bigEndian: true) != 0, s == (word(f, 16, bigEndian: true), word(f, 20, bigEndian: true)) {
                    sum = s
                    continue
                }
                firstBad = frames
                // The damaged frame's own transaction is dropped too, when it ends there; a
                // damaged frame is counted as damage only when a commit follows it, below.
                if ownSalts, word(f, 4, bigEndian: true) != 0 { ownCommit = true }
            } else if ownSalts, word(f, 4, bigEndian: true) != 0 {
                dropped += 1
            }
        }
        guard let bad = firstBad, dropped > 0 else { return nil }
        return Damage(frame: bad >= 0 ? bad : nil, droppedCommits: dropped + (ownCommit ? 1 : 0), frames: frames)
    }

    /// SQLite's WAL checksum: over 32-bit words in the order the magic number says, two at a
    /// time, `s0 += x0 + s1; s1 += x1 + s0`.
    static func checksum(_ bytes: ArraySlice<UInt8>, bigEndian: Bool, _ s: inout (UInt32, UInt32)) {
        var i = bytes.startIndex
        while i + 8 <= bytes.endIndex {
            let x0 = word(bytes, i, bigEndian: bigEndian), x1 = word(bytes, i + 4, bigEndian: bigEndian)
            s.0 = s.0 &+ x0 &+ s.1
            s.1 = s.1 &+ x1 &+ s.0
            i += 8
        }
    }

    /// `checksum` of `data` from byte `start` on, read in place (a page at a time: a 64 MiB
    /// `-wal` is read in well under a second).
    static func checksum(_ data: Data, from start: Int, bigEndian: Bool, _ s: inout (UInt32, UInt32)) {
        data.withUnsafeBytes { raw in
            var i = start
            while i + 8 <= raw.count {
                var x0 = raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)
                var x1 = raw.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self)
                if bigEndian { x0 = UInt32(bigEndian: x0); x1 = UInt32(bigEndian: x1) } else { x0 = UInt32(littleEndian: x0); x1 = UInt32(littleEndian: x1) }
                s.0 = s.0 &+ x0 &+ s.1
                s.1 = s.1 &+ x1 &+ s.0
                i += 8
            }
        }
    }

    static func word<C: RandomAccessCollection>(_ b: C, _ at: C.Index, bigEndian: Bool) -> UInt32 where C.Element == UInt8, C.Index == Int {
        let a = UInt32(b[at]), c = UInt32(b[at + 1]), d = UInt32(b[at + 2]), e = UInt32(b[at + 3])
        return bigEndian ? a << 24 | c << 16 | d << 8 | e : e << 24 | d << 16 | c << 8 | a
    }
}
