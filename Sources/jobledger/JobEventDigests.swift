import JobLedger
import JobLedgerSQLite

/// Each job's events as `diff` compares them beyond its rows: the payload digest of every event
/// (its first 64 bits, with the event's seq), in version order. A job's row holds neither its
/// input nor its output, so two logs whose jobs took other inputs or gave other outputs replayed
/// to equal rows and `diff` said "no differences"; an exported copy that differs from its
/// original in any payload now shows it.
struct JobEventDigests {
    /// One event: its seq on its side, and the first 16 hex digits of its payload's SHA-256.
    struct Event: Equatable {
        var seq: Int64
        var digest: UInt64
    }

    private(set) var jobs: [JobID: [Event]] = [:]

    /// Takes in one replayed event (called in log order, so each job's events come in version
    /// order). The digest is computed from the payload as read, not taken from the stored
    /// `payload_digest`: a payload edited behind the log's back, its digest left as it was,
    /// compared equal ("no differences", exit 0, where `verify` fails at that seq).
    mutating func add(_ e: StoredEvent) {
        let digest = Digest.sha256Hex(e.payload.canonicalText)
        jobs[e.job, default: []].append(Event(seq: e.seq, digest: UInt64(digest.prefix(16), radix: 16)!))
    }

    /// Where two sides' events of a job first carry different payloads.
    struct FirstDifference: Equatable {
        /// The job's version (the event's place in the job) where they part.
        var version: Int
        var leftSeq: Int64
        var rightSeq: Int64

        /// `events: payload differs from version 3 (seq 7 on the left, seq 9 on the right)`.
        var text: String {
            "payload differs from version \(version) (seq \(leftSeq) on the left, seq \(rightSeq) on the right)"
        }

        var json: JSONValue {
            .object(["version": .int(Int64(version)), "left_seq": .int(leftSeq), "right_seq": .int(rightSeq)])
        }
    }

    /// The first event of `job` whose payload differs between `self` (left) and `other`
    /// (right), among the events both sides have; nil when they agree that far (a side with
    /// more events shows in the row's version).
    func firstDifference(of job: JobID, from other: JobEventDigests) -> FirstDifference? {
        let a = jobs[job] ?? [], b = other.jobs[job] ?? []
        for (i, (x, y)) in zip(a, b).enumerated() where x.digest != y.digest {
            return FirstDifference(version: i + 1, leftSeq: x.seq, rightSeq: y.seq)
        }
        return nil
    }
}
