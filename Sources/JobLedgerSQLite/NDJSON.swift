import Foundation
import GRDB
import JobLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The NDJSON form of the log: one event per line, every stored column, payload inlined as JSON.
/// `Docs/EventLog.md` § Export describes it.
public enum NDJSON {
    /// One event as a line. An event hashed under an older rule than the current one says so
    /// with `"hash_rule"`, so that its hash can be checked from the line alone.
    public static func line(_ e: RawEvent, rule: HashChain.Rule = .current) -> String {
        var s = "{\"seq\":\(e.seq),\"job_id\":"
        JSONValue.string(e.jobID).write(to: &s)
        s += ",\"version\":\(e.version),\"type\":\"\(e.type)\",\"recorded_at\":\"\(e.recordedAt.iso8601)\",\"payload\":"
        s += e.payload
        if let k = e.idempotencyKey {
            s += ",\"idempotency_key\":"
            JSONValue.string(k).write(to: &s)
        }
        s += ",\"payload_digest\":\"\(e.payloadDigest)\",\"prev_hash\":\"\(e.prevHash)\",\"hash\":\"\(e.hash)\""
        if rule != .current { s += ",\"hash_rule\":\"\(rule.rawValue)\"" }
        return s + "}"
    }
}

/// What an import appended.
public struct ImportReport: Sendable {
    /// Events appended.
    public var events = 0
    /// Distinct jobs among them.
    public var jobs = 0
    /// The `seq` the first imported event got in this log; nil when nothing was imported.
    public var firstSeq: Int64?
    /// The log's head after the import.
    public var head: ChainHead?
}

extension Ledger {
    /// Writes every event, in order, as one NDJSON line each (without the line feed), from one
    /// snapshot, in constant memory.
    ///
    /// ```swift
    /// var out = ""
    /// try ledger.exportNDJSON { line in out += line + "\n" }
    /// ```
    public func exportNDJSON(_ write: (String) throws -> Void) throws(LedgerError) {
        guard try !removedIntegrityRules().contains(where: { $0.hasPrefix("table chain_rules ") }) else {
            // chain_rules dropped: each event's rule is the one its hash checks out under, v2
            // from the first row that does (as `verify` infers it).
            var v2 = false
            try forEachRawEvent(from: .min) { raw in
                if !v2 { v2 = raw.hashChecksOut(under: .v2) == true }
                try write(NDJSON.line(raw, rule: v2 ? .v2 : .v1))
            }
            return
        }
        let v2From = try hashRuleStart()
        // From the lowest seq stored: an event put in at seq 0 or below (by hand: no append gives
        // one) was left out of an export said to hold every event as stored.
        try forEachRawEvent(from: .min) { raw in try write(NDJSON.line(raw, rule: raw.seq >= v2From ? .v2 : .v1)) }
    }
}
