/// The text each event's hash is computed over. The chain itself
/// (`hash = SHA-256(prev_hash ‖ canonical)`) is computed by the store, which has the crypto;
/// this is the part that must never change, and is documented in `Docs/EventLog.md`.
public enum HashChain {
    /// `prev_hash` of the first event: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)

    /// Which fields an event's hash covers. A log records from which `seq` on each rule
    /// applies; `verify` checks every event under its own rule and says which ranges used which.
    public enum Rule: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
        /// seq, job id, version, type, recorded_at and the payload digest. The idempotency key
        /// is not covered: logs written before schema v4.
        case v1 = "jobledger/v1"
        /// Everything `v1` covers, then the idempotency key (an empty line when there is none).
        case v2 = "jobledger/v2"

        /// The rule new events are hashed under.
        public static let current = Rule.v2

        /// The rule's name, as recorded in the log (`jobledger/v2`).
        public var description: String { rawValue }
    }

    /// The rule's name, then seq, job id, version, type, recorded_at (ms) and the payload's
    /// SHA-256, each on its own line (`\n`); under `v2` one more line with the idempotency key
    /// (empty when there is none). No trailing newline. Job ids cannot contain a newline and the
    /// key comes last, so the fields cannot run into each other; keys are never empty, so an
    /// empty last line means "no key".
    public static func canonical(rule: Rule = .v1, seq: Int64, job: JobID, version: Int, type: EventType, recordedAt: Timestamp,
                                 payloadDigest: String, idempotencyKey: String? = nil) -> String {
        var text = rule.rawValue + "\n"
        text.reserveCapacity(13 + 20 + job.rawValue.utf8.count + 10 + 10 + 20 + payloadDigest.utf8.count + 6 + (idempotencyKey?.utf8.count ?? 0))
        text += String(seq); text += "\n"
        text += job.rawValue; text += "\n"
        text += String(version); text += "\n"
        text += type.rawValue; text += "\n"
        text += String(recordedAt.milliseconds); text += "\n"
        text += payloadDigest
        if rule == .v2 {
            text += "\n"
            text += idempotencyKey ?? ""
        }
        return text
    }
}
