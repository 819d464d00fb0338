import JobLedger

/// The stored form of an engine view's fold as of one event (`seq`; see
/// `Ledger.saveEngineSnapshot`): a head — the kinds, and the jobs in flight whose state a
/// starting engine reads from the log (running ones, queued ones being claimed at that moment,
/// requeued dead letters) — and parts of at most `partSize` queued jobs each, with what the
/// claim index needs. An engine starting on a long log starts from it and folds only the events
/// after it; its time then follows the jobs in flight and the events since the snapshot, not
/// the length of the log. Parts are written and read one at a time, so a snapshot of a million
/// queued jobs never sits in memory whole beside the view.
///
/// Each piece is compact (variable-length integers, times as differences), names the `seq`
/// it belongs to and ends with a checksum; a snapshot with a piece that does not decode is
/// ignored, and the whole log is folded instead.
enum EngineSnapshot {
    static let partSize = 65_536

    struct Head: Equatable {
        /// The last event the fold includes.
        var seq: Int64
        var kinds: [String]
        /// Jobs in flight whose state is read from the log.
        var unresolved: [JobID]
    }

    /// A queued job: its index entry.
    struct Job: Equatable {
        var id: JobID
        var version: Int
        /// An index into `Head.kinds`.
        var kind: Int
        var priority: Int
        var createdAt: Timestamp
        var runAt: Timestamp
    }

    /// Why a piece does not decode.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    private static let magic: [UInt8] = Array("JLES".utf8)
    private static let format: UInt8 = 1
    private static let headTag: UInt8 = 0x48, partTag: UInt8 = 0x50

    static func encode(_ head: Head) -> [UInt8] {
        var w = Writer(tag: headTag, seq: head.seq)
        w.unsigned(UInt64(head.kinds.count))
        for k in head.kinds { w.text(k) }
        w.unsigned(UInt64(head.unresolved.count))
        for id in head.unresolved { w.text(id.rawValue) }
        return w.finish()
    }

    static func decodeHead(_ body: [UInt8]) throws(Unreadable) -> Head {
        var r = try Reader(body, tag: headTag)
        var kinds: [String] = [], unresolved: [JobID] = []
        for _ in 0..<(try r.count()) { kinds.append(try r.text()) }
        for _ in 0..<(try r.count()) { unresolved.append(try r.id()) }
        try r.end()
        return Head(seq: r.seq, kinds: kinds, unresolved: unresolved)
    }

    /// A part: up to `partSize` queued jobs of the snapshot at `seq`.
    static func encode(part jobs: [Job], seq: Int64) -> [UInt8] {
        var w = Writer(tag: partTag, seq: seq)
        w.out.reserveCapacity(16 + jobs.count * 48)
        w.unsigned(UInt64(jobs.count))
        var previous: Int64 = 0
        for j in jobs {
            w.text(j.id.rawValue)
            w.unsigned(UInt64(j.version))
            w.unsigned(UInt64(j.kind))
            w.signed(Int64(j.priority))
            w.signed(j.createdAt.milliseconds &- previous)
            w.signed(j.runAt.milliseconds &- j.createdAt.milliseconds)
            previous = j.createdAt.milliseconds
        }
        return w.finish()
    }

    /// A part of the snapshot at `seq` whose head names `kinds` kinds.
    static func decodePart(_ body: [UInt8], seq: Int64, kinds: Int) throws(Unreadable) -> [Job] {
        var r = try Reader(body, tag: partTag)
        guard r.seq == seq else { throw Unreadable(description: "a part belongs to the snapshot at seq \(r.seq), not \(seq)") }
        var jobs: [Job] = []
        let n = try r.count()
        jobs.reserveCapacity(n)
        var previous: Int64 = 0
        for _ in 0..<n {
            let id = try r.id()
            let version = try r.unsigned(), kind = try r.unsigned()
            guard version >= 1, version <= UInt64(Int32.max), kind < UInt64(kinds) else { throw Unreadable(description: "a job's version or kind is out of range") }
            let priority = try r.signed()
            let createdAt = previous &+ (try r.signed())
            let runAt = createdAt &+ (try r.signed())
            previous = createdAt
            jobs.append(Job(id: id, version: Int(version), kind: Int(kind), priority: Int(priority),
                            createdAt: Timestamp(milliseconds: createdAt), runAt: Timestamp(milliseconds: runAt)))
        }
        try r.end()
        return jobs
    }

    /// Magic, format, tag and seq first; the checksum of everything before it last.
    private struct Writer {
        var out: [UInt8] = []

        init(tag: UInt8, seq: Int64) {
            out.append(contentsOf: EngineSnapshot.magic)
            out.append(EngineSnapshot.format)
            out.append(tag)
            signed(seq)
        }

        mutating func unsigned(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }

        /// Zigzag, so small negative numbers stay short.
        mutating func signed(_ v: Int64) { unsigned(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

        mutating func text(_ s: String) {
            unsigned(UInt64(s.utf8.count))
            out.append(contentsOf: s.utf8)
        }

        mutating func finish() -> [UInt8] {
            let sum = fnv1a(out)
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i)))) }
            return out
        }
    }

    private struct Reader {
        let b: ArraySlice<UInt8>
        var i: Int
        var seq: Int64 = 0

        init(_ body: [UInt8], tag: UInt8) throws(Unreadable) {
            guard body.count >= EngineSnapshot.magic.count + 3 + 8 else { throw Unreadable(description: "a piece is \(body.count) bytes long") }
            b = body[..<(body.count - 8)]
            var sum: UInt64 = 0
            for k in 0..<8 { sum |= UInt64(body[body.count - 8 + k]) << (8 * UInt64(k)) }
            guard sum == fnv1a(b) else { throw Unreadable(description: "a piece's checksum does not match") }
            guard Array(b.prefix(4)) == EngineSnapshot.magic else { throw Unreadable(description: "it is not an engine snapshot") }
            guard b[4] == EngineSnapshot.format else { throw Unreadable(description: "it is in format \(b[4]); this build reads format \(EngineSnapshot.format)") }
            guard b[5] == tag else { throw Unreadable(description: "a piece is not where it belongs") }
            i = 6
            seq = try signed()
        }

        mutating func unsigned() throws(Unreadable) -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.endIndex, shift < 64 else { throw Unreadable(description: "it ends in the middle of a number") }
                let byte = b[i]
                i += 1
                v |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
        }

        mutating func signed() throws(Unreadable) -> Int64 {
            let u = try unsigned()
            return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        }

        /// A count of items that each take at least one byte.
        mutating func count() throws(Unreadable) -> Int {
            let n = try unsigned()
            guard n <= UInt64(b.endIndex - i) else { throw Unreadable(description: "a count runs past its end") }
            return Int(n)
        }

        mutating func text() throws(Unreadable) -> String {
            let n = try count()
            defer { i += n }
            return String(decoding: b[i..<(i + n)], as: UTF8.self)
        }

        mutating func id() throws(Unreadable) -> JobID {
            let t = try text()
            do { return try JobID(t) } catch { throw Unreadable(description: "a job id is not valid: \(error)") }
        }

        func end() throws(Unreadable) {
            guard i == b.endIndex else { throw Unreadable(description: "a piece has bytes past its end") }
        }
    }
}
