import JobLedger
import JobLedgerSQLite

/// `append --idempotency-key K` when K is already in the log: the same append repeated (the
/// same job, type and payload) returns the event stored with it, as a retried request should;
/// another one is refused (exit 3, as `submit` refuses a key reused with another request), so
/// that a script is not handed, with exit 0, the id of a job that is not what it asked for.
enum AppendKeyReuse {
    /// What differs between `stored`, the event the key belongs to, and the append that gave
    /// the key again (`job` nil: a new job, whose generated id is not compared); nil when it
    /// is the same append. The payloads are compared as the log stores them (canonical JSON).
    static func differences(stored: StoredEvent, job: JobID?, payload: EventPayload) -> [String]? {
        var fields: [String] = []
        if let job, job != stored.job { fields.append("job") }
        if payload.type != stored.type {
            fields.append("type")
        } else if !payload.canonicalText.utf8.elementsEqual(stored.payload.canonicalText.utf8) {
            // By bytes, as the digest is: Swift's `!=` holds é as one scalar and as e + U+0301 equal.
            fields.append("payload")
        }
        return fields.isEmpty ? nil : fields
    }

    /// The refusal: the key, the job and event it belongs to, and what differs.
    static func message(key: String, stored: StoredEvent, differences: [String]) -> String {
        let what = "\(differences.joined(separator: ", ")) \(differences.count == 1 ? "differs" : "differ")"
        return "rejected: idempotency key '\(terminalSafe(String(key.prefix(100))))' belongs to job \(stored.job) "
            + "(seq \(stored.seq), version \(stored.version) \(stored.type)), appended with another event (\(what)); nothing was written "
            + "(a key repeats only the same append)"
    }
}
