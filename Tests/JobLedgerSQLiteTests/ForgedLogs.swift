import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

extension Ledger {
    func headHash(at seq: Int64) throws -> String {
        var hash = ""
        try forEachRawEvent(from: seq) { if $0.seq == seq { hash = $0.hash } }
        return hash
    }
}

/// Recomputes every prev_hash and hash of `rows` in order, under the current rule: a forger's
/// consistent rewrite.
func rechained(_ rows: [RawEvent]) throws -> [RawEvent] {
    var out = rows
    var prev = HashChain.genesis
    for i in out.indices {
        let r = out[i]
        out[i].prevHash = prev
        out[i].hash = Digest.eventHash(rule: .v2, prevHash: prev, seq: r.seq, job: try JobID(r.jobID), version: r.version,
                                       type: try EventType(name: r.type), recordedAt: r.recordedAt, payloadDigest: r.payloadDigest,
                                       idempotencyKey: r.idempotencyKey)
        prev = out[i].hash
    }
    return out
}

/// A new log file holding exactly `rows`, inserted behind the ledger's back.
func forgedLog(_ rows: [RawEvent], in dir: TempDir) throws -> Ledger {
    let path = dir.path("forged-\(UUID().uuidString).sqlite")
    _ = try Ledger.open(path: path)
    let q = try rawQueue(path)
    try q.write { db in
        for r in rows {
            try db.execute(sql: "INSERT INTO events (\(RawEvent.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [r.seq, r.jobID, r.version, r.type, r.payload, r.recordedAt.milliseconds, r.idempotencyKey,
                                       r.payloadDigest, r.prevHash, r.hash])
        }
    }
    try q.close()
    // `migrate: false`: a writer's open refuses a log with a seq no append gives (before 1, or
    // past 2⁶²), which some forged logs are made to hold; the schema is current anyway.
    return try Ledger.open(path: path, create: false, migrate: false)
}
