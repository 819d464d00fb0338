/// The fields of the UUIDv7 ids one process generates, kept strictly increasing (RFC 9562
/// §6.2, method 2, "monotonic random"): a new millisecond draws the 74 bits after it at random;
/// within the same millisecond, or at an earlier one (a clock set back, another clock), the id
/// keeps the previous id's millisecond and its random bits plus one. So jobs submitted in one
/// millisecond sort, and are claimed, in the order they were submitted.
///
/// ```swift
/// var sequence = JobIDSequence()
/// var rng = SystemRandomNumberGenerator()
/// let t = Timestamp(milliseconds: 1_764_374_648_123)
/// let a = sequence.next(at: t, using: &rng), b = sequence.next(at: t, using: &rng)
/// // b.ms == a.ms, b.randB == a.randB + 1 (carrying into randA, then into ms)
/// ```
struct JobIDSequence: Sendable {
    /// The last id's Unix milliseconds (48 bits), `rand_a` (12 bits) and `rand_b` (62 bits).
    private(set) var ms: UInt64 = 0, randA: UInt64 = 0, randB: UInt64 = 0
    private var started = false

    static let maxRandA: UInt64 = (1 << 12) - 1
    static let maxRandB: UInt64 = (1 << 62) - 1

    init() {}

    /// The next id's fields at `time` (before 1970: 0; only its low 48 bits are kept).
    mutating func next(at time: Timestamp, using rng: inout some RandomNumberGenerator) -> (ms: UInt64, randA: UInt64, randB: UInt64) {
        let now = UInt64(max(0, time.milliseconds)) & 0xFFFF_FFFF_FFFF
        if !started || now > ms {
            started = true
            ms = now
            randA = rng.next() & Self.maxRandA
            randB = rng.next() & Self.maxRandB
        } else if randB < Self.maxRandB {
            randB += 1
        } else if randA < Self.maxRandA {
            randA += 1
            randB = 0
        } else {
            // 2^74 ids in one millisecond: borrow the next one.
            ms += 1
            randA = 0
            randB = 0
        }
        return (ms, randA, randB)
    }
}
