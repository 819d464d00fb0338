import Crypto
import Foundation
import JobLedger

/// SHA-256 helpers: payload digests, asset addresses and the hash chain.
enum Digest {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var collected = [UInt8]()
        collected.reserveCapacity(32)
        collected.append(contentsOf: bytes)
        return collected.withUnsafeBufferPointer { b in
            String(unsafeUninitializedCapacity: b.count * 2) { out in
                for (i, byte) in b.enumerated() {
                    out[2 * i] = hexDigits[Int(byte >> 4)]
                    out[2 * i + 1] = hexDigits[Int(byte & 0x0F)]
                }
                return b.count * 2
            }
        }
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

    static func sha256Hex(_ text: String) -> String {
        var text = text
        return text.withUTF8 { hex(SHA256.hash(data: $0)) }
    }

    static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// The hash of one event: `chain(prevHash:canonical:)` of `HashChain.canonical(...)`,
    /// computed from one byte buffer with a single SHA-256 pass (this is on every append's path;
    /// `DigestTests` hold the two to the same answers).
    static func eventHash(prevHash: String, seq: Int64, job: JobID, version: Int, type: EventType,
                          recordedAt: Timestamp, payloadDigest: String) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(32 + 13 + 20 + job.rawValue.utf8.count + 10 + 10 + 20 + payloadDigest.utf8.count + 6)
        var prev = prevHash
        let decoded = prev.withUTF8 { u -> Bool in
            guard u.count == 64 else { return false }
            var i = 0
            while i < 64 {
                guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return false }
                buffer.append(hi << 4 | lo)
                i += 2
            }
            return true
        }
        if !decoded { return chain(prevHash: prevHash, canonical: HashChain.canonical(
            seq: seq, job: job, version: version, type: type, recordedAt: recordedAt, payloadDigest: payloadDigest)) }
        let newline = UInt8(ascii: "\n")
        buffer.append(contentsOf: "jobledger/v1\n".utf8)
        JSONValue.writeInt(seq, to: &buffer); buffer.append(newline)
        buffer.append(contentsOf: job.rawValue.utf8); buffer.append(newline)
        JSONValue.writeInt(Int64(version), to: &buffer); buffer.append(newline)
        buffer.append(contentsOf: type.rawValue.utf8); buffer.append(newline)
        JSONValue.writeInt(recordedAt.milliseconds, to: &buffer); buffer.append(newline)
        buffer.append(contentsOf: payloadDigest.utf8)
        return buffer.withUnsafeBytes { hex(SHA256.hash(data: $0)) }
    }

    /// `SHA-256(prev_hash bytes ‖ canonical text)`, hex.
    static func chain(prevHash: String, canonical: String) -> String {
        var hasher = SHA256()
        if let prev = bytes(fromHex: prevHash) { hasher.update(data: prev) } else { hasher.update(data: Data(prevHash.utf8)) }
        var canonical = canonical
        canonical.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hex(hasher.finalize())
    }
}
