import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Testing

/// The `jobs` table writes an event that changes no indexed column (progress, a preview) as an
/// UPDATE of the row in place, and anything else (a new job, a new state) as a whole new row:
/// the rows are the same either way, and the in-place one keeps its rowid.
@Suite struct JobsTableUpdateTests {
    func rowid(_ f: Fixture, _ job: JobID) throws -> Int64? {
        try f.ledger.pool.read { db in try Int64.fetchOne(db, sql: "SELECT rowid FROM jobs WHERE id = ?", arguments: [job.rawValue]) }
    }

    /// The raw `jobs` rows, every column, by id.
    func rawRows(_ f: Fixture) throws -> [String: [String]] {
        try f.ledger.pool.read { db in
            var out: [String: [String]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT * FROM jobs") {
                out[r["id"]] = r.columnNames.map { "\($0)=\(r[$0] as DatabaseValue)" }
            }
            return out
        }
    }

    /// The stored table, column for column, against the same table emptied and rebuilt.
    func expectSameAsRebuilt(_ f: Fixture, _ runner: ProjectionRunner, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let stored = try rawRows(f)
        try await f.ledger.resetJobsTable()
        try await runner.catchUp()
        #expect(try rawRows(f) == stored, sourceLocation: sourceLocation)
    }

    /// A job with no owner and a preview: its progress and its preview update the row in place
    /// (`owner IS NULL` matches), with the preview's digest and URL.
    @Test func aJobWithNoOwnerAndAPreviewIsUpdatedInPlaceToo() async throws {
        let f = try Fixture()
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, blobs: LocalFolderBlobStore(path: f.dir.path("blobs")))
        let job = JobID.generate()
        _ = try await f.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design"))))
        _ = try await f.ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1,
                                                                                  leaseDeadline: f.clock.now().adding(milliseconds: 60_000)))))
        try await runner.catchUp()
        let running = try #require(try rowid(f, job))
        _ = try await f.ledger.append(NewEvent(job: job, payload: .progress(.init(fraction: 0.25, message: "a quarter", attempt: 1))))
        try await runner.catchUp()
        #expect(try rowid(f, job) == running)
        let preview = try await f.ledger.stageAsset(Data("preview".utf8), contentType: "image/png")
        _ = try await f.ledger.append(NewEvent(job: job, payload: .lowres(.init(asset: preview, attempt: 1))))
        try await runner.catchUp()
        #expect(try rowid(f, job) == running)
        let row = try #require(try f.ledger.storedJobRows().first { $0.id == job })
        #expect(row.owner == nil && row.previewURL != nil && row.version == 4)
        try await expectSameAsRebuilt(f, runner)
    }

    @Test func progressUpdatesTheRowInPlaceAndANewStateRewritesIt() async throws {
        let f = try Fixture()
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock)
        let job = JobID.generate(), other = JobID.generate()
        let deadline = f.clock.now().adding(milliseconds: 60_000)
        _ = try await f.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", owner: "user_1"))))
        _ = try await f.ledger.append(NewEvent(job: other, payload: .queued(.init(kind: "design"))))
        _ = try await f.ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: deadline))))
        try await runner.catchUp()
        let running = try #require(try rowid(f, job))

        f.clock.advance(milliseconds: 5)
        _ = try await f.ledger.append(NewEvent(job: job, payload: .progress(.init(fraction: 0.5, message: "half", attempt: 1))))
        try await runner.catchUp()
        #expect(try rowid(f, job) == running, "progress rewrote the row instead of updating it")
        var row = try #require(try f.ledger.storedJobRows().first { $0.id == job })
        #expect(row.progress == 0.5 && row.message == "half" && row.version == 3 && row.state == .running && row.owner == "user_1")
        #expect(row.updatedAt == f.clock.now())
        // Every column (seq and the artefact digests too) as a whole row written afresh has it.
        try await expectSameAsRebuilt(f, runner)

        _ = try await f.ledger.append(NewEvent(job: job, payload: .completed(.init(asset: nil, output: ["ok": true], attempt: 1))))
        try await runner.catchUp()
        row = try #require(try f.ledger.storedJobRows().first { $0.id == job })
        #expect(row.state == .completed && row.version == 4 && row.owner == "user_1")
        #expect(try f.ledger.storedJobRows(state: .running).isEmpty, "the old state's index entry is gone")
        #expect(try f.ledger.storedJobRows(state: .completed).map(\.id) == [job])
        // The stored table is what the log folds to.
        let rebuilt = try f.rebuiltRows()
        for stored in try f.ledger.storedJobRows() { #expect(stored.differences(from: try #require(rebuilt[stored.id])).isEmpty) }
    }
}
