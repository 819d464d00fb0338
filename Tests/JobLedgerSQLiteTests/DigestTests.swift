import Foundation
@testable import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The append path's hashing shortcuts give the same answers as the definitions they replace.
@Suite struct DigestTests {
    @Test("eventHash equals chain(prevHash, HashChain.canonical(...)) over seeded random events")
    func eventHashMatchesTheDefinition() {
        var rng = SplitMix64(seed: 0x5eed)
        var prev = HashChain.genesis
        // A sequence of its own: the process's would keep the far-future milliseconds drawn here.
        var ids = JobIDSequence()
        for i in 0..<2000 {
            let seq = Int64(i == 0 ? 1 : Int(rng.next() % 1_000_000_000))
            let job = JobID.generate(at: Timestamp(milliseconds: Int64(rng.next() % 4_000_000_000_000)), in: &ids)
            let version = Int(rng.next() % 100_000) + 1
            let type = EventType.allCases[Int(rng.next() % UInt64(EventType.allCases.count))]
            let at = Timestamp(milliseconds: Int64(rng.next() % 8_000_000_000_000) - 4_000_000_000_000)
            let digest = Digest.sha256Hex("payload \(i)")
            let rule = HashChain.Rule.allCases[Int(rng.next() % 2)]
            // No key, a short one, one with a newline and non-ASCII text, the longest.
            let keys: [String?] = [nil, "k", "line\nbreak é", String(repeating: "x", count: 256)]
            let key = keys[Int(rng.next() % 4)]
            let fast = Digest.eventHash(rule: rule, prevHash: prev, seq: seq, job: job, version: version, type: type, recordedAt: at,
                                        payloadDigest: digest, idempotencyKey: key)
            let slow = Digest.chain(prevHash: prev, canonical: HashChain.canonical(rule: rule, seq: seq, job: job, version: version, type: type,
                                                                                   recordedAt: at, payloadDigest: digest, idempotencyKey: key))
            #expect(fast == slow)
            if fast != slow { return }
            prev = fast
        }
    }

    @Test("eventHash writes the extreme numbers (zero, negative, Int64.min and .max) as the definition does")
    func eventHashAtTheEdges() {
        let job = jid("j")
        for (seq, version, at) in [(Int64(0), 0, Int64(0)), (.max, .max, .max), (1, 1, .min), (-1, -9, -1), (10, 10, 10)] {
            let fast = Digest.eventHash(rule: .v1, prevHash: HashChain.genesis, seq: seq, job: job, version: version, type: .queued,
                                        recordedAt: Timestamp(milliseconds: at), payloadDigest: Digest.sha256Hex("{}"), idempotencyKey: nil)
            let slow = Digest.chain(prevHash: HashChain.genesis, canonical: HashChain.canonical(
                seq: seq, job: job, version: version, type: .queued, recordedAt: Timestamp(milliseconds: at), payloadDigest: Digest.sha256Hex("{}")))
            #expect(fast == slow, "seq \(seq) version \(version) at \(at)")
        }
        #expect(Digest.sha256Hex(Array("abc".utf8)) == Digest.sha256Hex("abc"))
        #expect(Digest.sha256Hex(Data("abc".utf8)) == Digest.sha256Hex("abc"))
    }

    @Test("the two hash rules: v2 covers the idempotency key and names itself, v1 ignores the key")
    func theRulesDiffer() {
        let job = jid("j")
        func h(_ rule: HashChain.Rule, _ key: String?) -> String {
            Digest.eventHash(rule: rule, prevHash: HashChain.genesis, seq: 1, job: job, version: 1, type: .queued,
                             recordedAt: Timestamp(milliseconds: 1), payloadDigest: Digest.sha256Hex("{}"), idempotencyKey: key)
        }
        #expect(h(.v1, nil) == h(.v1, "k"))
        #expect(h(.v2, nil) != h(.v2, "k"))
        #expect(h(.v2, "k") != h(.v2, "K"))
        #expect(h(.v1, nil) != h(.v2, nil))
        #expect(HashChain.canonical(rule: .v2, seq: 1, job: job, version: 1, type: .queued, recordedAt: Timestamp(milliseconds: 1),
                                    payloadDigest: "d", idempotencyKey: nil) == "jobledger/v2\n1\nj\n1\nqueued\n1\nd\n")
    }

    @Test("a stored prev_hash that is not 64 hex digits is hashed as text, as chain() does")
    func malformedPrevHashFallsBack() {
        for prev in ["", "zz", String(repeating: "g", count: 64), String(repeating: "0", count: 63), String(repeating: "A", count: 64),
                     String(repeating: "a", count: 63) + "z", "-" + String(repeating: "f", count: 63)] {
            let job = jid("job-1")
            let fast = Digest.eventHash(rule: .v1, prevHash: prev, seq: 7, job: job, version: 2, type: .started, recordedAt: Timestamp(milliseconds: 5),
                                        payloadDigest: "d", idempotencyKey: nil)
            let slow = Digest.chain(prevHash: prev, canonical: HashChain.canonical(seq: 7, job: job, version: 2, type: .started, recordedAt: Timestamp(milliseconds: 5), payloadDigest: "d"))
            #expect(fast == slow, "prev_hash \(prev)")
        }
    }

    @Test("hex and bytes(fromHex:) round-trip; odd lengths and non-hex characters are refused")
    func hexRoundTrip() {
        let bytes: [UInt8] = (0...255).map { UInt8($0) }
        let text = bytes.withUnsafeBytes { Digest.hex($0) }
        #expect(text.hasPrefix("000102") && text.hasSuffix("fdfeff") && text.utf8.count == 512)
        #expect(Digest.bytes(fromHex: text) == bytes)
        #expect(Digest.bytes(fromHex: "ABcd") == [0xab, 0xcd])
        #expect(Digest.bytes(fromHex: "abc") == nil)
        #expect(Digest.bytes(fromHex: "0g") == nil)
        #expect(Digest.bytes(fromHex: "") == [])
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
