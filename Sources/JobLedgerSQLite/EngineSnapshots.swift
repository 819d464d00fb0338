import Foundation
import GRDB
import JobLedger

/// A job engine's checkpointed fold: what the engine knew of the jobs in flight as of one event
/// (`seq`), so that an engine starting on a long log reads the snapshot and only the events
/// after it. The log keeps one, the newest, as the engine encoded it: a head (table
/// `engine_snapshots`, one row) and parts (`engine_snapshot_parts`, in order). Like a
/// projection it is derived and may be deleted at any time; the next engine then folds the
/// whole log.
package struct EngineSnapshotHead: Sendable {
    /// The last event the fold includes.
    package var seq: Int64
    /// Jobs in flight it holds.
    package var jobs: Int
    /// The engine's encoding of everything but the parts.
    package var head: [UInt8]

    package init(seq: Int64, jobs: Int, head: [UInt8]) {
        self.seq = seq
        self.jobs = jobs
        self.head = head
    }
}

extension Ledger {
    /// The stored snapshot's row, when the event at its `seq` carries the hash it was written
    /// with (`s` is the row).
    private static let snapshotOfThisLog = "FROM engine_snapshots s JOIN events e ON e.seq = s.seq AND e.hash = s.hash WHERE s.id = 1"

    /// Reads the newest engine snapshot, when there is one that belongs to this log (the event
    /// at its `seq` must carry the hash it was written with: a snapshot copied from another log is
    /// never started from), in one read: `body` gets its `seq`, head, number of parts and a
    /// function returning the next part (nil after the last). Nil when there is none.
    package func readEngineSnapshot<T>(_ body: (_ seq: Int64, _ head: [UInt8], _ parts: Int, _ next: () throws -> [UInt8]?) throws -> T) throws(LedgerError) -> T? {
        guard schemaVersion >= 5 else { return nil }
        return try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT s.seq, s.head, s.parts \(Self.snapshotOfThisLog)")
            guard let row else { return nil }
            let head: Data = row[1]
            let parts = try Data.fetchCursor(db, sql: "SELECT body FROM engine_snapshot_parts ORDER BY part")
            return try body(row[0], [UInt8](head), row[2]) { try parts.next().map { [UInt8]($0) } }
        }
    }

    /// Replaces the stored engine snapshot, in one transaction: `encode` is given the `seq` of
    /// the snapshot stored now (0 when there is none or it does not belong to this log) and a
    /// function that stores the next part; it returns the head, or nil when it has nothing newer
    /// than what is stored (and nothing changes). Returns the `seq` written, or nil.
    @discardableResult
    package func saveEngineSnapshot(at time: Timestamp,
                                    encode: @escaping @Sendable (_ stored: Int64, _ emit: ([UInt8]) throws -> Void) throws -> EngineSnapshotHead?)
        async throws(LedgerError) -> Int64? {
        struct NothingNewer: Error {}
        do {
            return try await gatedWrite { db in
                let stored = try Int64.fetchOne(db, sql: "SELECT s.seq \(Self.snapshotOfThisLog)") ?? 0
                try db.execute(sql: "DELETE FROM engine_snapshot_parts")
                var parts = 0
                let insert = try db.makeStatement(sql: "INSERT INTO engine_snapshot_parts (part, body) VALUES (?, ?)")
                let head = try encode(stored) { body in
                    parts += 1
                    try body.withUnsafeBytes { raw in
                        // Bound without a copy of our own: a part is stored as it is.
                        let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!),
                                        count: raw.count, deallocator: .none)
                        try insert.execute(arguments: [parts, data])
                    }
                }
                guard let head else { throw NothingNewer() }
                try db.execute(sql: """
                    INSERT INTO engine_snapshots (id, seq, hash, jobs, parts, head, written_at)
                    SELECT 1, seq, hash, ?, ?, ?, ? FROM events WHERE seq = ?
                    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, jobs = excluded.jobs,
                        parts = excluded.parts, head = excluded.head, written_at = excluded.written_at
                    """, arguments: [head.jobs, parts, Data(head.head), time.milliseconds, head.seq])
                guard db.changesCount == 1 else { throw NothingNewer() }  // no event at that seq: never
                return head.seq
            }
        } catch is NothingNewer {
            return nil
        } catch { throw map(error) }
    }
}
