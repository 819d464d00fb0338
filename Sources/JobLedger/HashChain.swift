/// The text each event's hash is computed over. The chain itself
/// (`hash = SHA-256(prev_hash ‖ canonical)`) is computed by the store, which has the crypto;
/// this is the part that must never change, and is documented in `Docs/EventLog.md`.
public enum HashChain {
    /// `prev_hash` of the first event: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)

    /// `jobledger/v1` then seq, job id, version, type, recorded_at (ms) and the payload's
    /// SHA-256, each on its own line (`\n`), with no trailing newline. Job ids cannot contain a
    /// newline, so the fields cannot run into each other.
    public static func canonical(seq: Int64, job: JobID, version: Int, type: EventType, recordedAt: Timestamp, payloadDigest: String) -> String {
        var text = "jobledger/v1\n"
        text.reserveCapacity(13 + 20 + job.rawValue.utf8.count + 10 + 10 + 20 + payloadDigest.utf8.count + 6)
        text += String(seq); text += "\n"
        text += job.rawValue; text += "\n"
        text += String(version); text += "\n"
        text += type.rawValue; text += "\n"
        text += String(recordedAt.milliseconds); text += "\n"
        text += payloadDigest
        return text
    }
}
