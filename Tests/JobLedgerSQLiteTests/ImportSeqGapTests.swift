import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// An export numbers its events 1, 2, 3 … as `verify` expects of a log: an import refuses a
/// file whose seqs skip, even when its hash chain was computed again over the new numbers.
@Suite(.timeLimit(.minutes(2)))
struct ImportSeqGapTests {
    let dir = TempDir()

    /// The export's lines with `seq` moved by `shift` from the line numbered `from` on (1-based),
    /// every hash computed again from there, as a careful editor would.
    func renumbered(_ lines: [String], from: Int, by shift: Int64) throws -> [String] {
        var prev = HashChain.genesis
        return try lines.enumerated().map { index, line in
            guard case .object(var o) = try JSONValue(parsing: line, enclosingLevels: 1) else { throw LedgerError.storage("not an object") }
            var seq = o["seq"]!.intValue!
            if index + 1 >= from { seq += shift }
            o["seq"] = .int(seq)
            let canonical = HashChain.canonical(rule: .v2, seq: seq, job: try JobID(o["job_id"]!.stringValue!), version: Int(o["version"]!.intValue!),
                                                type: try EventType(name: o["type"]!.stringValue!),
                                                recordedAt: Timestamp(iso8601: o["recorded_at"]!.stringValue!)!,
                                                payloadDigest: o["payload_digest"]!.stringValue!, idempotencyKey: o["idempotency_key"]?.stringValue)
            o["prev_hash"] = .string(prev)
            prev = Digest.chain(prevHash: prev, canonical: canonical)
            o["hash"] = .string(prev)
            return JSONValue.object(o).canonicalText
        }
    }

    func export() async throws -> [String] {
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        for j in 0..<3 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        var lines: [String] = []
        try ledger.exportNDJSON { lines.append($0) }
        #expect(lines.count == 18 && !lines[0].contains("hash_rule"), "every line under the current rule, v2")
        return lines
    }

    @Test func renumberingOnlyIsImportedAsBefore() async throws {
        // The recomputation itself is sound: with no shift the file imports.
        let lines = try renumbered(try await export(), from: 11, by: 0)
        let copy = try Ledger.open(path: dir.path("copy.sqlite"))
        #expect(try copy.importNDJSON(lines).events == 18)
    }

    @Test(arguments: [Int64(5), Int64(-1)])
    func aGapOrARepeatInTheSeqsIsRefusedNamingTheLine(shift: Int64) async throws {
        let lines = try renumbered(try await export(), from: 11, by: shift)
        let copy = try Ledger.open(path: dir.path("copy.sqlite"))
        let error = await expectLedgerError { _ = try copy.importNDJSON(lines) }
        guard case .importFailed(let line, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(line == 11)
        #expect(reason.contains("seq \(11 + shift) follows seq 10"), "\(reason)")
        #expect(try copy.head() == nil, "nothing was imported")
    }
}
