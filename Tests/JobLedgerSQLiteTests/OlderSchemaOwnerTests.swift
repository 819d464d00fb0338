import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// A log left at an older schema (`migrate: false`, so that the jobledger that wrote it can
/// still read it) is not given a `queued` event with an `owner`, a field that jobledger refuses
/// to read: the append is refused, naming the field, and writes nothing.
@Suite struct OlderSchemaOwnerTests {
    @Test func aQueuedEventWithAnOwnerIsRefusedOnAV6Log() async throws {
        let dir = TempDir()
        let path = dir.path("v6.sqlite")
        try await writeOldLog(path, upTo: "v6: jobs owner, list indexes", rows: [])
        let v6 = try Ledger.open(path: path, create: false, migrate: false)
        #expect(v6.schemaVersion == 6 && !v6.recordsOwners)

        let owned = NewEvent(job: try JobID("owned"), payload: .queued(.init(kind: "design", owner: "user_1")))
        await #expect {
            _ = try await v6.append(owned)
        } throws: { error in
            guard case .invalidPayload(let p)? = error as? LedgerError else { return false }
            return p.type == .queued && p.reason.contains("'owner'") && p.reason.contains("schema v6")
        }
        #expect(try v6.eventCount() == 0)
        // Without an owner the job is recorded as that jobledger would record it.
        let plain = try await v6.append(NewEvent(job: try JobID("plain"), payload: .queued(.init(kind: "design"))))
        #expect(plain.seq == 1)
        var texts: [String] = []
        try v6.forEachRawEvent { texts.append($0.payload) }
        #expect(texts.count == 1 && !texts[0].contains("owner"))

        // Migrated, the same log takes owners.
        let current = try Ledger.open(path: path, create: false)
        #expect(current.recordsOwners)
        #expect(try await current.append(owned).seq == 2)
        #expect(try current.verify().isValid)
    }
}
