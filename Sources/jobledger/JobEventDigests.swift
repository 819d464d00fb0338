import JobLedger
import JobLedgerSQLite

/// Each job's events as `diff` compares them beyond its rows: every event's payload digest (its
/// first 64 bits), time and idempotency key, with its seq, in version order. A job's row holds
/// neither its input nor its output, so two logs whose jobs took other inputs or gave other
/// outputs replayed to equal rows and `diff` said "no differences"; an exported copy that
/// differs from its original in any payload now shows it. Nor does a row hold when each event
/// was recorded (only the last one's time) or the keys it was appended with: two histories that
/// told `history` and `state --as-of` different stories diffed clean (exit 0).
struct JobEventDigests {
    /// One event: its seq on its side, the first 16 hex digits of its payload's SHA-256, when
    /// it was recorded, and its idempotency key as 64 bits of its SHA-256 (0 for none): 32
    /// bytes an event, on each side, with no string kept.
    struct Event: Equatable {
        var seq: Int64
        var digest: UInt64
        var recordedAt: Int64
        var key: UInt64
    }

    private(set) var jobs: [JobID: [Event]] = [:]

    /// Takes in one replayed event (called in log order, so each job's events come in version
    /// order). The digest is computed from the payload as read, not taken from the stored
    /// `payload_digest`: a payload edited behind the log's back, its digest left as it was,
    /// compared equal ("no differences", exit 0, where `verify` fails at that seq).
    mutating func add(_ e: StoredEvent) {
        let digest = Digest.sha256Hex(e.payload.canonicalText)
        let key = e.idempotencyKey.map { UInt64(Digest.sha256Hex($0).prefix(16), radix: 16)! | 1 } ?? 0
        jobs[e.job, default: []].append(Event(seq: e.seq, digest: UInt64(digest.prefix(16), radix: 16)!,
                                              recordedAt: e.recordedAt.milliseconds, key: key))
    }

    /// Where two sides' events of a job first differ, and in what.
    struct FirstDifference: Equatable {
        /// The job's version (the event's place in the job) where they part.
        var version: Int
        var leftSeq: Int64
        var rightSeq: Int64
        /// What differs there, of `payload`, `recorded_at` and `idempotency_key`.
        var fields: [String]

        /// `events: payload differs from version 3 (seq 7 on the left, seq 9 on the right)`.
        var text: String {
            let names = fields.map { $0 == "recorded_at" ? "time" : $0 == "idempotency_key" ? "idempotency key" : $0 }
            let what = names.count == 1 ? names[0] : names.dropLast().joined(separator: ", ") + " and " + names.last!
            return "\(what) \(names.count == 1 ? "differs" : "differ") from version \(version) (seq \(leftSeq) on the left, seq \(rightSeq) on the right)"
        }

        var json: JSONValue {
            .object(["version": .int(Int64(version)), "left_seq": .int(leftSeq), "right_seq": .int(rightSeq),
                     "fields": .array(fields.map { .string($0) })])
        }
    }

    /// The first event of `job` that differs between `self` (left) and `other` (right), in its
    /// payload, time or idempotency key, among the events both sides have; nil when they agree
    /// that far (a side with more events shows in the row's version).
    func firstDifference(of job: JobID, from other: JobEventDigests) -> FirstDifference? {
        let a = jobs[job] ?? [], b = other.jobs[job] ?? []
        for (i, (x, y)) in zip(a, b).enumerated() {
            var fields: [String] = []
            if x.digest != y.digest { fields.append("payload") }
            if x.recordedAt != y.recordedAt { fields.append("recorded_at") }
            if x.key != y.key { fields.append("idempotency_key") }
            if !fields.isEmpty { return FirstDifference(version: i + 1, leftSeq: x.seq, rightSeq: y.seq, fields: fields) }
        }
        return nil
    }
}
