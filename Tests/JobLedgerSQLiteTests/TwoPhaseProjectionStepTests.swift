import Foundation
import GRDB
import GRDBSQLite
import JobLedger
@testable import JobLedgerSQLite
import Synchronization
import Testing

/// `projectionStep(_:lease:limit:through:prepare:apply:)`: what a step makes is made on a
/// reader before the write, and used in the write only if the write finds the same checkpoint
/// and a `through` that still covers the batch; otherwise it is made again in the write.
@Suite(.timeLimit(.minutes(2)))
struct TwoPhaseProjectionStepTests {
    let dir = TempDir()

    /// A log of `n` queued jobs.
    func makeLog(jobs n: Int) async throws -> Ledger {
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        for j in 0..<n { _ = try await ledger.append(NewEvent(job: jid("job-\(j)"), payload: queued)) }
        return ledger
    }

    /// Whether `db` is the writer connection (GRDB opens its readers read-only).
    static func isWriter(_ db: Database) -> Bool { sqlite3_db_readonly(db.sqliteConnection, "main") == 0 }

    /// Where `prepare` ran (in the write transaction or not) and the seqs it was given.
    final class Calls: Sendable {
        let made = Mutex<[(inWrite: Bool, seqs: [Int64])]>([])
        let applied = Mutex<[Int64]>([])
        func prepare(_ db: Database, _ events: [ProjectedEvent]) -> [Int64] {
            let seqs = events.map(\.seq)
            let inWrite = TwoPhaseProjectionStepTests.isWriter(db)
            made.withLock { $0.append((inWrite, seqs)) }
            return seqs
        }
    }

    @Test func whatTheReaderMadeIsAppliedAndTheCheckpointMoves() async throws {
        let ledger = try await makeLog(jobs: 3)
        let calls = Calls()
        let n = try await ledger.projectionStep(ProjectionName("two-phase"), limit: 10, prepare: calls.prepare) { db, events, made in
            #expect(made == events.map(\.seq))
            #expect(TwoPhaseProjectionStepTests.isWriter(db))
            calls.applied.withLock { $0 += made }
        }
        #expect(n == 3)
        let made = calls.made.withLock { $0 }
        #expect(made.count == 1, "made once, on the reader: \(made)")
        #expect(made.first?.inWrite == false)
        #expect(calls.applied.withLock { $0 } == [1, 2, 3])
        #expect(try ledger.checkpoint(of: ProjectionName("two-phase")).checkpoint == 3)
    }

    /// Another process advances the checkpoint between the read and the write: what the reader
    /// made is dropped and the step is made again, in the write, from the new checkpoint.
    @Test func aCheckpointMovedMeanwhileIsMadeAgainInTheWrite() async throws {
        let ledger = try await makeLog(jobs: 4)
        let name = ProjectionName("two-phase")
        try await ledger.projectionStep(name, limit: 1) { _, _ in }  // the projection's row, at seq 1
        let path = ledger.path
        let calls = Calls()
        let n = try await ledger.projectionStep(name, limit: 10, prepare: { db, events in
            if calls.made.withLock({ $0.isEmpty }) {
                // "Another process" takes seq 2 meanwhile, on a connection of its own.
                let other = try DatabaseQueue(path: path)
                try other.write { db in try db.execute(sql: "UPDATE projections SET checkpoint = 2 WHERE name = ?", arguments: [name.rawValue]) }
                try other.close()
            }
            return calls.prepare(db, events)
        }, apply: { _, events, made in
            #expect(made == events.map(\.seq))
            calls.applied.withLock { $0 += made }
        })
        #expect(n == 2)
        let made = calls.made.withLock { $0 }
        #expect(made.map(\.seqs) == [[2, 3, 4], [3, 4]])
        #expect(made.map(\.inWrite) == [false, true])
        #expect(calls.applied.withLock { $0 } == [3, 4], "seq 2 was the other process's")
        #expect(try ledger.checkpoint(of: name).checkpoint == 4)
    }

    /// `through` (a dependency's frontier) is lower in the write than it was on the reader (an
    /// item of the dependency became pending again): the batch is cut to it and made again.
    @Test func aThroughLowerInTheWriteCutsTheBatch() async throws {
        let ledger = try await makeLog(jobs: 5)
        let calls = Calls()
        let asked = Mutex(0)
        let n = try await ledger.projectionStep(ProjectionName("two-phase"), limit: 10, through: { _, _ in
            // The reader's call sees everything; the write's sees only seq 2.
            asked.withLock { $0 += 1; return $0 == 1 ? .max : 2 }
        }, prepare: calls.prepare) { _, _, made in
            calls.applied.withLock { $0 += made }
        }
        #expect(n == 2)
        #expect(calls.made.withLock { $0 }.map(\.seqs) == [[1, 2, 3, 4, 5], [1, 2]])
        #expect(calls.applied.withLock { $0 } == [1, 2])
        #expect(try ledger.checkpoint(of: ProjectionName("two-phase")).checkpoint == 2)
    }

    /// The lease is taken over between the read and the write: nothing is applied, the
    /// checkpoint stays, and the taker-over is named.
    @Test func aLeaseTakenOverMeanwhileAppliesNothing() async throws {
        let ledger = try await makeLog(jobs: 3)
        let name = ProjectionName("two-phase")
        let lease = try #require(try await ledger.acquireProjection(name, owner: "me", now: Timestamp(milliseconds: 0), leaseMilliseconds: 60_000))
        let path = ledger.path
        let calls = Calls()
        await #expect(throws: LedgerError.self) {
            _ = try await ledger.projectionStep(name, lease: lease, limit: 10, prepare: { db, events in
                if calls.made.withLock({ $0.isEmpty }) {
                    let other = try DatabaseQueue(path: path)
                    try other.write { db in
                        try db.execute(sql: "UPDATE projections SET owner = 'other', generation = generation + 1 WHERE name = ?", arguments: [name.rawValue])
                    }
                    try other.close()
                }
                return calls.prepare(db, events)
            }, apply: { _, _, made in calls.applied.withLock { $0 += made } })
        }
        #expect(calls.applied.withLock { $0 }.isEmpty)
        #expect(try ledger.checkpoint(of: name).checkpoint == 0)
    }

    /// More events are appended between the read and the write: the write applies the batch
    /// the reader made and moves the checkpoint to its end only; the next step takes the rest.
    @Test func eventsAppendedMeanwhileWaitForTheNextStep() async throws {
        let ledger = try await makeLog(jobs: 2)
        let calls = Calls()
        let n = try await ledger.projectionStep(ProjectionName("two-phase"), limit: 10, prepare: { db, events in
            if calls.made.withLock({ $0.isEmpty }) {
                let other = try DatabaseQueue(path: ledger.path)
                try other.write { db in
                    // A third job's queued event, as another writer appends it (valid hash-chain
                    // columns are not checked by the projection).
                    try db.execute(sql: """
                        INSERT INTO events (job_id, version, type, payload, recorded_at, payload_digest, prev_hash, hash)
                        SELECT 'job-x', 1, type, payload, recorded_at, payload_digest, hash, hash FROM events WHERE seq = 2
                        """)
                }
                try other.close()
            }
            return calls.prepare(db, events)
        }, apply: { _, _, made in calls.applied.withLock { $0 += made } })
        #expect(n == 2)
        #expect(calls.made.withLock { $0 }.map(\.inWrite) == [false])
        #expect(try ledger.checkpoint(of: ProjectionName("two-phase")) == (checkpoint: 2, head: 3))
    }

    /// Nothing new: nothing is made, and the projection still gets its row (as the one-phase
    /// step gives it).
    @Test func nothingNewMakesNothing() async throws {
        let ledger = try Ledger.open(path: dir.path("empty.sqlite"))
        let calls = Calls()
        let n = try await ledger.projectionStep(ProjectionName("two-phase"), limit: 10, prepare: calls.prepare) { _, _, _ in
            Issue.record("nothing to apply")
        }
        #expect(n == 0)
        #expect(calls.made.withLock { $0 }.isEmpty)
        #expect(try ledger.projectionStatus().contains { $0.name == ProjectionName("two-phase") })
    }

    /// A `prepare` that fails on the reader is not the step's failure: the write makes it again,
    /// and a failure there is reported.
    @Test func aFailureOnTheReaderIsMetAgainInTheWrite() async throws {
        let ledger = try await makeLog(jobs: 2)
        let tries = Mutex(0)
        struct Refused: Error {}
        let n = try await ledger.projectionStep(ProjectionName("two-phase"), limit: 10, prepare: { _, events in
            if tries.withLock({ $0 += 1; return $0 }) == 1 { throw Refused() }
            return events.count
        }, apply: { _, events, made in #expect(made == events.count) })
        #expect(n == 2)
        #expect(tries.withLock { $0 } == 2)
        await #expect(throws: (any Error).self) {
            _ = try await ledger.projectionStep(ProjectionName("always-refused"), limit: 10, prepare: { _, _ -> Int in throw Refused() },
                                                apply: { _, _, _ in })
        }
        #expect(try ledger.checkpoint(of: ProjectionName("always-refused")).checkpoint == 0)
    }
}
