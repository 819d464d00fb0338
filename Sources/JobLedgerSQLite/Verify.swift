import Foundation
import GRDB
import JobLedger

/// The outcome of `Ledger.verify`: what was checked, and the first problem found, if any.
public struct VerifyReport: Sendable {
    /// The first bad event: its `seq` and what is wrong with it.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The first `seq` that does not check out (for a missing tail: the expected head's).
        public var seq: Int64
        /// What is wrong there, in words.
        public var message: String
        /// `seq N: message`.
        public var description: String { "seq \(seq): \(message)" }
    }

    /// A run of consecutive events hashed under one rule.
    public struct RuleRange: Sendable, Hashable, CustomStringConvertible {
        /// The rule the hashes of this range were recomputed under.
        public var rule: HashChain.Rule
        /// The first `seq` of the range.
        public var from: Int64
        /// The last `seq` of the range.
        public var through: Int64
        /// `seq A–B under RULE`, as `jobledger verify` prints it.
        public var description: String {
            let what = rule == .v1 ? " (idempotency keys not covered)" : ""
            return "seq \(from)\(through == from ? "" : "–\(through)") under \(rule)\(what)"
        }
    }

    /// Events checked (up to the first problem).
    public var events: Int64 = 0
    /// Jobs seen.
    public var jobs: Int = 0
    /// The last event checked as `SEQ:HASH`; nil for an empty log.
    public var head: ChainHead?
    /// The first problem found; nil when the log checks out.
    public var problem: Problem?
    /// Which hash rule each range of the log was checked under, in order.
    public var rules: [RuleRange] = []
    /// Events whose stored payload is not the canonical text jobledger writes (another writer
    /// stored it): intact by their digests, but an export of them would not import. The first
    /// `nonCanonicalListed` seqs, and how many in all.
    public var nonCanonical: [Int64] = []
    /// How many events in all are not in canonical form (`nonCanonical` lists the first ones).
    public var nonCanonicalCount = 0
    static let nonCanonicalListed = 10
    /// Events recorded at an earlier time than the event before them (in `seq` order): the
    /// writer's clock stepped back (a correction, a restored machine, another host's writer).
    /// Not a problem, as the log's order is its `seq`, but times and durations around them
    /// (`history`, `replay --until`, `state --as-of`) read out of order. How many, and the
    /// first one's `seq`.
    public var timeBackwardsCount = 0
    /// The `seq` of the first event recorded earlier than the one before it (nil: none).
    public var timeBackwardsFirst: Int64?
    /// The `seq` of the first event recorded at a time outside `Timestamp.recordable` (put in
    /// by another program: appends refuse it): intact by its hash, but an export of it would
    /// not import. Nil: none.
    public var unrecordableTimeFirst: Int64?
    /// The log's rules that its schema should hold and the file does not (dropped behind its
    /// back), each as `trigger events_no_update (refuses UPDATE on events)`: the events may
    /// still check out, but the database no longer refuses what the rules refused. A failure.
    public var removedRules: [String] = []
    /// True when the table `chain_rules` is gone: which rule each seq was hashed under was then
    /// inferred from the rows (the first one that matches only `jobledger/v2` starts it), and
    /// `rules` shows what was inferred.
    public var rulesInferred = false
    /// What SQLite's check of the file found wrong (`checkFileStructure()`), when the scan had
    /// already found a problem or a removed rule: kept beside them, not thrown in their place
    /// (a row breaking a CHECK lost the seq the scan had named). Nil otherwise: damage in a log
    /// whose events check out is thrown as before.
    public var damage: String?
    /// True when no problem was found and no rule of the log was removed.
    public var isValid: Bool { problem == nil && removedRules.isEmpty }
}

/// Where a verification got to: the last event that checked out, the report so far and the
/// jobs' fold, for `Ledger.verify(continuing:)` to carry on from without reading those events
/// again. Its memory is the fold's: a small entry per finished job, the state of each job in flight.
public struct VerifyProgress: Sendable {
    /// The last event verified (`seq` 0 and the genesis hash before the first).
    public let head: ChainHead
    let report: VerifyReport
    let fold: LedgerFold
    /// When the last event verified was recorded (nil before the first).
    let recordedAt: Timestamp?
}

extension Ledger {
    /// Recomputes every payload digest and hash link, checks that every job's versions run
    /// 1, 2, 3 … and that every transition is legal, and (when given) that the log still
    /// reaches `expectHead` with the same hash. Stops at the first problem. Reads the log in one
    /// snapshot, in memory that follows the jobs in flight, not the log's length; a read-only
    /// ledger (`Ledger.openReadOnly`) is enough.
    ///
    /// ```swift
    /// guard let expected = ChainHead(savedHead) else { fatalError("not a SEQ:HASH head") }  // nil: no head checked
    /// let report = try ledger.verify(expectHead: expected)
    /// if let problem = report.problem {
    ///     print("tampered or damaged: \(problem)")        // seq 17: payload changed after it was recorded …
    /// } else {
    ///     print("ok: \(report.events) events, \(report.jobs) jobs, head \(report.head?.description ?? "-")")
    /// }
    /// ```
    ///
    /// `progress` is called every 4,096 events with the `seq` reached. A problem in the log is
    /// a report, not an error; this throws only when the log cannot be read.
    ///
    /// After the events, SQLite's own check of the file runs (`checkFileStructure()`): a
    /// damaged page anywhere (an index, the jobs table) throws `LedgerError.storage` naming
    /// what SQLite found, where a scan of the events alone would have said the log is intact.
    /// When the scan had found a problem already, the damage is kept in the report
    /// (`VerifyReport.damage`) beside it instead.
    public func verify(expectHead: ChainHead? = nil, progress: ((Int64) -> Void)? = nil) throws(LedgerError) -> VerifyReport {
        var report = try verify(continuing: nil, expectHead: expectHead, progress: progress).report
        do {
            try checkFileStructure()
        } catch .storage(let damage) where !report.isValid {
            report.damage = damage
        }
        return report
    }

    /// Verifies the log from where an earlier verification got to: the events after
    /// `start.head` get every check `verify()` makes (seq continuity, the `prev_hash` link to
    /// the last verified event, the payload digest, the event hash under the rule of its seq,
    /// the version and the transition, folded on from `start`'s state), and the rows up to
    /// `start.head` are not read again. With `start` nil it is `verify()`. The report covers the
    /// whole log as a full `verify()` would (events, jobs and rule ranges carried over), so a row
    /// changed behind the log's back *before* `start.head` is not noticed: run a full
    /// verification now and then. `next` is where to carry on from; after a problem it stays at
    /// the last event that checked out.
    ///
    /// `stop` is asked every 4,096 events; once it answers true the scan ends there, and the
    /// report and `next` cover the events checked so far (its head is the last of them, and the
    /// checks against the log's end, `expectHead` and what projections have taken in, are not
    /// made): what a server stopping mid-verification of a long log does, rather than wait.
    ///
    /// ```swift
    /// var (report, next) = try ledger.verify(continuing: nil)    // the whole log, once
    /// // … events are appended …
    /// (report, next) = try ledger.verify(continuing: next)       // only the new ones
    /// ```
    public func verify(continuing start: VerifyProgress?, expectHead: ChainHead? = nil, progress: ((Int64) -> Void)? = nil,
                       stop: (() -> Bool)? = nil)
        throws(LedgerError) -> (report: VerifyReport, next: VerifyProgress) {
        var stopped = false
        var report = start?.report ?? VerifyReport()
        var fold = start?.fold ?? LedgerFold()
        var prev = start?.head ?? ChainHead(seq: 0, hash: HashChain.genesis)
        var prevRecordedAt = start?.recordedAt
        var hashAtExpected: String?
        var checkedBefore: Int64?
        // A row whose stored hash is not what its fields give, and that hash: told apart below.
        var hashMismatch: (seq: Int64, recomputed: String?, stored: String)?
        if let expected = expectHead, let start, expected.seq <= start.head.seq {
            if expected.seq == start.head.seq { hashAtExpected = start.head.hash } else { checkedBefore = expected.seq }
        }
        report.removedRules = try removedIntegrityRules()
        report.rulesInferred = report.removedRules.contains { $0.hasPrefix("table chain_rules ") }
        let inferring = report.rulesInferred
        var v2From = inferring ? (start != nil && report.rules.last?.rule == .v2 ? report.rules.last!.from : .max) : try hashRuleStart()
        // Read before the events, so an append and a projection step meanwhile cannot make a
        // witness look ahead of the events this scan sees.
        let witness = try furthestWitness()
        // From the smallest seq there is: a row slipped in before seq 1 must not go unseen.
        // Carrying on: from the first seq after the last one verified.
        try scanRaw(from: start == nil ? .min : prev.seq + 1) { raw in
                func fail(_ seq: Int64, _ message: String) -> Bool {
                    report.problem = .init(seq: seq, message: message)
                    return false
                }
                if raw.seq != prev.seq + 1 {
                    let missing = raw.seq - prev.seq - 1
                    // Rows come in seq order: one at or below the last is one no append gives
                    // (seqs start at 1), put in by hand ("out of order after seq 0" said neither).
                    if raw.seq < 1 { return fail(raw.seq, "seq \(raw.seq) is not one an append gives (seqs start at 1): the row was put in by hand") }
                    if raw.seq <= prev.seq { return fail(raw.seq, "out of order after seq \(prev.seq)") }
                    return fail(prev.seq + 1, "missing: the log jumps from seq \(prev.seq) to seq \(raw.seq) (\(missing) seq\(missing == 1 ? "" : "s") with no event: deleted, or the event at seq \(raw.seq) was put in by hand)")
                }
                if raw.prevHash != prev.hash {
                    // The first event's link is to the chain's start (64 zeros), not to an event.
                    let before = prev.seq == 0 ? "the chain's start (64 zeros, what the first event links to)" : "the hash of seq \(prev.seq)"
                    return fail(raw.seq, "prev_hash does not match \(before): the chain is broken here")
                }
                let digest = Digest.sha256Hex(raw.payload)
                if digest != raw.payloadDigest { return fail(raw.seq, Self.digestMismatch(raw, payloadSHA256: digest, rule: raw.seq >= v2From ? .v2 : .v1)) }
                // The hash first: an edited type or job id is a broken link, whatever it decodes to.
                var rule: HashChain.Rule = raw.seq >= v2From ? .v2 : .v1
                if raw.hashChecksOut(under: rule) == false {
                    // The row intact under the other rule: what changed is `chain_rules`, not the row.
                    let other: HashChain.Rule = rule == .v1 ? .v2 : .v1
                    let matchesOther = raw.hashChecksOut(under: other) == true
                    if matchesOther, inferring, rule == .v1 {
                        // No chain_rules to say where jobledger/v2 begins: here, where a row
                        // first checks out under it alone (the rules only ever went v1 → v2).
                        v2From = raw.seq
                        rule = .v2
                    } else if matchesOther, inferring {
                        return fail(raw.seq, "hash matches the row under \(other), but an earlier event was hashed under \(rule) (the table chain_rules, which says from which seq, was dropped: the rules were inferred from the rows)")
                    } else if matchesOther {
                        let from = v2From == .max ? "no row for \(HashChain.Rule.v2)" : "\(HashChain.Rule.v2) from seq \(v2From)"
                        return fail(raw.seq, "hash matches the row under \(other), but the table chain_rules (\(from)) puts this seq under \(rule): chain_rules was changed after the events were hashed")
                    } else {
                        let fields = rule == .v1 ? "job, version, type or time" : "job, version, type, time or idempotency key"
                        hashMismatch = (raw.seq, raw.recomputedHash(under: rule), raw.hash)
                        return fail(raw.seq, "hash does not match the row under \(rule): its \(fields) changed after it was recorded")
                    }
                }
                let event: StoredEvent
                do { event = try raw.decodedOrWhy() } catch { return fail(raw.seq, "not a valid event: \(error)") }
                // jobledger stores the canonical text; another writer's (white space, key order, a
                // default left out) still verifies by its digest, so the log is intact, but its
                // export would not import ("the export was edited"): said, not failed.
                if !event.payload.canonicalBytes.elementsEqual(raw.payload.utf8) {
                    if report.nonCanonical.count < VerifyReport.nonCanonicalListed { report.nonCanonical.append(raw.seq) }
                    report.nonCanonicalCount += 1
                }
                if let last = report.rules.last, last.rule == rule {
                    report.rules[report.rules.count - 1].through = raw.seq
                } else {
                    report.rules.append(.init(rule: rule, from: raw.seq, through: raw.seq))
                }
                let expectedVersion = fold.version(of: event.job) + 1
                if raw.version != expectedVersion {
                    return fail(raw.seq, "job \(event.job) has version \(raw.version) here, expected \(expectedVersion) (versions run 1, 2, 3 …)")
                }
                do { _ = try fold.apply(event) } catch { return fail(raw.seq, "illegal transition: \(error)") }
                // A clock that stepped back: said, not failed (the order of the log is its seq).
                if let before = prevRecordedAt, raw.recordedAt < before {
                    if report.timeBackwardsFirst == nil { report.timeBackwardsFirst = raw.seq }
                    report.timeBackwardsCount += 1
                }
                if report.unrecordableTimeFirst == nil, !Timestamp.recordable.contains(raw.recordedAt.milliseconds) {
                    report.unrecordableTimeFirst = raw.seq
                }
                if raw.seq == expectHead?.seq { hashAtExpected = raw.hash }
                prev = ChainHead(seq: raw.seq, hash: raw.hash)
                prevRecordedAt = raw.recordedAt
                report.events += 1
                if report.events % 4_096 == 0 {
                    progress?(raw.seq)
                    if stop?() == true { stopped = true; return false }
                }
                return true
        }
        // The next row still links to the hash the row's fields give: the fields are as they
        // were hashed, and the stored hash itself was changed.
        if let (seq, recomputed, stored) = hashMismatch, let recomputed, let problem = report.problem {
            switch try nextLink(after: seq) {
            case recomputed?:
                report.problem = .init(seq: seq, message: "the stored hash \(stored.prefix(16))… was changed after it was recorded: the row's fields still give \(recomputed.prefix(16))…, the hash seq \(seq + 1) links to")
            case nil:
                // The last event: no later link tells a changed field from a changed hash.
                report.problem = .init(seq: seq, message: problem.message + ", or its stored hash was")
            default:
                break
            }
        }
        report.jobs = fold.jobCount
        report.head = prev.seq == 0 ? nil : prev
        let next = VerifyProgress(head: prev, report: { var r = report; r.problem = nil; return r }(), fold: fold, recordedAt: prevRecordedAt)
        if stopped { return (report, next) }
        if report.problem == nil, let expected = expectHead {
            if checkedBefore != nil {
                report.problem = .init(seq: expected.seq, message: "the expected head \(expected) lies before where this verification carried on from; verify the whole log")
            } else if prev.seq < expected.seq {
                report.problem = .init(seq: expected.seq, message: "missing: the log ends at seq \(prev.seq), but the expected head is \(expected): events were cut off the end")
            } else if let h = hashAtExpected, h != expected.hash {
                report.problem = .init(seq: expected.seq, message: "hash \(h.prefix(16))… differs from the expected head \(expected.hash.prefix(16))…: the log was rewritten")
            }
        }
        if report.problem == nil, let (what, seq) = witness, seq > prev.seq {
            report.problem = .init(seq: prev.seq + 1, message: "missing: the log ends at seq \(prev.seq), but \(what) has taken in events up to seq \(seq): events were cut off the end")
        }
        return (report, next)
    }

    /// The `prev_hash` of the event after `seq` (nil: none).
    func nextLink(after seq: Int64) throws(LedgerError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT prev_hash FROM events WHERE seq = ?", arguments: [seq + 1]) }
    }

    /// What in this file has recorded the furthest `seq` besides the events themselves: a
    /// projection's checkpoint or the engine's snapshot. Every one was at or before the head
    /// when it was written and seqs are never reused, so one past the head shows that events
    /// were cut off the end. (A tripwire inside the same file, which whoever cut the events could
    /// also edit: `--expect-head` with a head kept elsewhere is the proof.)
    func furthestWitness() throws(LedgerError) -> (String, Int64)? {
        guard hasProjections else { return nil }
        return try read { db in try Ledger.furthestWitness(db) }
    }

    /// The head and, when something in the file has taken in events past it (events were cut
    /// off the end), what and up to which seq: read in one snapshot, so that a writer appending
    /// and projecting meanwhile never looks like a lost end. What `jobledger digest` checks
    /// before it prints a head to keep.
    package func headAndLostEnd() throws(LedgerError) -> (head: ChainHead?, lostEnd: (witness: String, seq: Int64)?) {
        try read { db in
            let head = try Ledger.fetchHead(db)
            guard let (what, seq) = try Ledger.furthestWitness(db), seq > (head?.seq ?? 0) else { return (head, nil) }
            return (head, (what, seq))
        }
    }

    /// `furthestWitness()` on a connection, for any schema (tables it lacks witness nothing).
    static func furthestWitness(_ db: Database) throws -> (String, Int64)? {
        guard try db.tableExists("projections") else { return nil }
        var best: (String, Int64)?
        for row in try Row.fetchAll(db, sql: "SELECT name, checkpoint FROM projections") {
            let seq: Int64 = row[1]
            if seq > (best?.1 ?? 0) { best = ("projection '\(row[0] as String)'", seq) }
        }
        if try db.tableExists("engine_snapshots"), let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM engine_snapshots WHERE id = 1"),
           seq > (best?.1 ?? 0) {
            best = ("the engine's snapshot", seq)
        }
        return best
    }

    /// The first `seq` hashed under `HashChain.Rule.v2`; `Int64.max` for a log older than
    /// schema v4 (every event under v1).
    func hashRuleStart() throws(LedgerError) -> Int64 {
        guard schemaVersion >= 4 else { return .max }
        return try read { db in
            try Int64.fetchOne(db, sql: "SELECT from_seq FROM chain_rules WHERE rule = ?", arguments: [HashChain.Rule.v2.rawValue]) ?? .max
        }
    }
}

extension Ledger {
    /// Why a row's payload and its `payload_digest` disagree, as far as the row tells: the
    /// digest column is not a SHA-256 at all, or the event's hash was computed with the
    /// payload's digest (so the column was changed, not the payload), or else the payload
    /// changed. Digests are shown whole: two that differ late showed the same 16-character prefix.
    static func digestMismatch(_ raw: RawEvent, payloadSHA256 digest: String, rule: HashChain.Rule) -> String {
        let recorded = raw.payloadDigest
        guard recorded.utf8.count == 64, recorded.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            return "payload_digest is not a SHA-256 in lowercase hex ('\(recorded.prefix(70))'): the column was changed after the event was recorded"
        }
        var asHashed = raw
        asHashed.payloadDigest = digest
        if asHashed.hashChecksOut(under: rule) == true {
            return "payload_digest changed after it was recorded: the payload's SHA-256 is \(digest), as the event's hash was computed with; the column says \(recorded)"
        }
        return "payload changed after it was recorded (its SHA-256 is \(digest), the log recorded \(recorded))"
    }
}
