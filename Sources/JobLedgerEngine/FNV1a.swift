/// FNV-1a, 64 bits: a fast, non-cryptographic hash of bytes. The engine's queued-job keys hash
/// job ids with it, and its snapshots checksum their pieces with it.
func fnv1a<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}
