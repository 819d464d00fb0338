import Crypto
import Foundation
import JobLedger

/// SHA-256 helpers: payload digests, asset addresses and the hash chain.
package enum Digest {
    private static let hexDigits = Array("0123456789abcdef".utf8)
    private static let v1Header = Array((HashChain.Rule.v1.rawValue + "\n").utf8)
    private static let v2Header = Array((HashChain.Rule.v2.rawValue + "\n").utf8)

    /// Lower-case hex of raw bytes, written straight into the string's storage.
    static func hex(_ b: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: b.count * 2) { out in
            hexDigits.withUnsafeBufferPointer { digits in
                for i in 0..<b.count {
                    out[2 * i] = digits[Int(b[i] >> 4)]
                    out[2 * i + 1] = digits[Int(b[i] & 0x0F)]
                }
            }
            return b.count * 2
        }
    }

    /// SHA-256 of raw bytes, hex.
    static func sha256Hex(_ b: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: b)
        return hasher.finalize().withUnsafeBytes { hex($0) }
    }

    /// Value of each ASCII hex digit (either case), 0xFF for every other byte.
    private static let nibbles: [UInt8] = (0...255).map { c -> UInt8 in
        switch UInt8(c) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(c) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(c) - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(c) - UInt8(ascii: "A") + 10
        default: 0xFF
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        let v = nibbles[Int(c)]
        return v == 0xFF ? nil : v
    }

    static func bytes(fromHex hex: String) -> [UInt8]? {
        var hex = hex
        return hex.withUTF8 { u -> [UInt8]? in
            guard u.count % 2 == 0 else { return nil }
            var ok = true
            let out = [UInt8](unsafeUninitializedCapacity: u.count / 2) { buffer, count in
                var i = 0
                while i < u.count {
                    guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { ok = false; break }
                    buffer[i / 2] = hi << 4 | lo
                    i += 2
                }
                count = i / 2
            }
            return ok ? out : nil
        }
    }

    package static func sha256Hex(_ text: String) -> String {
        var text = text
        return text.withUTF8 { sha256Hex(UnsafeRawBufferPointer($0)) }
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { sha256Hex($0) } }

    static func sha256Hex(_ data: Data) -> String { data.withUnsafeBytes { sha256Hex($0) } }

    /// The hash of one event: `chain(prevHash:canonical:)` of `HashChain.canonical(...)`,
    /// computed from one byte buffer with a single SHA-256 pass (this is on every append's path;
    /// `DigestTests` hold the two to the same answers).
    static func eventHash(rule: HashChain.Rule, prevHash: String, seq: Int64, job: JobID, version: Int, type: EventType,
                          recordedAt: Timestamp, payloadDigest: String, idempotencyKey: String?) -> String {
        var prev = prevHash, jobText = job.rawValue, typeText = type.rawValue, digest = payloadDigest
        var key = rule == .v2 ? idempotencyKey ?? "" : ""
        let header: [UInt8]
        switch rule {
        case .v1: header = v1Header
        case .v2: header = v2Header
        }
        let capacity = 32 + header.count + 3 * 21 + jobText.utf8.count + typeText.utf8.count + digest.utf8.count + key.utf8.count + 6
        let hash: String? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            let start = buffer.baseAddress!
            var out = start
            func put(_ bytes: UnsafeBufferPointer<UInt8>) {
                if let base = bytes.baseAddress { out.initialize(from: base, count: bytes.count) }
                out += bytes.count
            }
            func put(_ value: Int64, then end: UInt8) {
                JSONValue.withDecimalText(value) { put($0.assumingMemoryBound(to: UInt8.self)) }
                out.pointee = end; out += 1
            }
            let decoded = prev.withUTF8 { u in
                nibbles.withUnsafeBufferPointer { table -> Bool in
                    guard u.count == 64 else { return false }
                    var bad: UInt8 = 0
                    for i in 0..<32 {
                        let hi = table[Int(u[2 * i])], lo = table[Int(u[2 * i + 1])]
                        bad |= hi | lo
                        out[i] = hi << 4 | lo & 0x0F
                    }
                    out += 32
                    return bad & 0xF0 == 0  // every byte a hex digit (0xFF marks the others)
                }
            }
            guard decoded else { return nil }
            let newline = UInt8(ascii: "\n")
            header.withUnsafeBufferPointer { put($0) }
            put(seq, then: newline)
            jobText.withUTF8 { put($0) }; out.pointee = newline; out += 1
            put(Int64(version), then: newline)
            typeText.withUTF8 { put($0) }; out.pointee = newline; out += 1
            put(recordedAt.milliseconds, then: newline)
            digest.withUTF8 { put($0) }
            if rule == .v2 {
                out.pointee = newline; out += 1
                key.withUTF8 { put($0) }
            }
            return sha256Hex(UnsafeRawBufferPointer(start: start, count: out - start))
        }
        return hash ?? chain(prevHash: prevHash, canonical: HashChain.canonical(
            rule: rule, seq: seq, job: job, version: version, type: type, recordedAt: recordedAt,
            payloadDigest: payloadDigest, idempotencyKey: idempotencyKey))
    }

    /// `SHA-256(prev_hash bytes ‖ canonical text)`, hex.
    static func chain(prevHash: String, canonical: String) -> String {
        var hasher = SHA256()
        if let prev = bytes(fromHex: prevHash) { hasher.update(data: prev) } else { hasher.update(data: Data(prevHash.utf8)) }
        var canonical = canonical
        canonical.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize().withUnsafeBytes { hex($0) }
    }
}
