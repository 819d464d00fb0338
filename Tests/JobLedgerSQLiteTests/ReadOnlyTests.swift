import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// `Ledger.openReadOnly`: reading a log never writes to it or beside it. Tests run as root, for
/// whom file modes stop nothing, so they check what the folder holds and the file's bytes.
@Suite(.timeLimit(.minutes(2)))
struct ReadOnlyTests {
    let dir = TempDir()

    func listing(_ folder: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }
    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// A log with three finished jobs and one queued, its jobs table brought up to seq 5 only.
    func makeLog(_ path: String) async throws -> Ledger {
        let ledger = try Ledger.open(path: path)
        for j in 0..<3 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        _ = try await ledger.append(NewEvent(job: jid("job-3"), payload: queued))
        // The jobs projection's first step, of 5 events (all job-0's, folded from nothing).
        let applied = try await ledger.projectionStep(.jobs, limit: 5) { db, events in
            var states: [JobID: JobState] = [:]
            for e in events { states[e.job] = try Lifecycle.apply(e.payload, to: states[e.job], job: e.job, at: e.recordedAt) }
            try JobsTableProjection().apply(events, states: states, db: db)
        }
        #expect(applied == 5)
        return ledger
    }

    /// The main file alone, in a folder of its own, as `cp` of a checkpointed log gives it.
    func copy(of ledger: Ledger, to folder: String) throws -> String {
        try ledger.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/log.sqlite"
        try FileManager.default.copyItem(atPath: ledger.path, toPath: path)
        return path
    }

    func rows(_ states: [JobID: JobState]) -> [JobRow] {
        states.values.map { JobRow(state: $0, previewURL: nil, resultURL: nil) }.sorted { ($0.createdAt, $0.id.rawValue) < ($1.createdAt, $1.id.rawValue) }
    }

    @Test func aReadOnlyCopyIsReadWithoutCreatingOrChangingAnything() async throws {
        let original = try await makeLog(dir.path("log.sqlite"))
        let folder = dir.path("ro")
        let path = try copy(of: original, to: folder)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
        let before = try bytes(path)

        let ro = try Ledger.openReadOnly(path: path)
        #expect(ro.isReadOnly && ro.schemaVersion == Schema.version)
        let report = try ro.verify()
        #expect(report.isValid && report.events == 19 && report.jobs == 4)
        #expect(try ro.head() == original.head())
        var exported: [String] = [], expected: [String] = []
        try ro.exportNDJSON { exported.append($0) }
        try original.exportNDJSON { expected.append($0) }
        #expect(exported == expected)
        // The jobs table is behind (checkpoint 5 of 19): the rows are completed in memory.
        let standing = try ro.jobsTableCheckpoint()
        #expect(standing.checkpoint == 5 && standing.head == 19)
        #expect(try ro.currentJobRows() == rows(try original.jobStates()))
        #expect(try ro.currentJobRows(state: .queued).map(\.id) == [jid("job-3")])
        var fold = ReplayFold()
        #expect(try ro.replay(into: &fold).events == 19)

        #expect(try listing(folder) == ["log.sqlite"], "no -wal, -shm or journal beside a read-only copy")
        #expect(try bytes(path) == before)
    }

    /// A writer that found the disk full leaves an empty `-wal` and a `-shm` of a few bytes:
    /// never a live writer's (whose `-shm` is at least one 32 KiB region). Reading through them
    /// needed room to grow the `-shm`, so verify failed until space was freed; the file alone is
    /// the log, and is read as it is, leaving them untouched.
    @Test func theRemainsOfAWriterThatFoundTheDiskFullDoNotStopAReader() async throws {
        let original = try await makeLog(dir.path("log.sqlite"))
        let path = try copy(of: original, to: dir.path("full"))
        try Data().write(to: URL(fileURLWithPath: path + "-wal"))
        try Data([0, 0, 0]).write(to: URL(fileURLWithPath: path + "-shm"))
        let ro = try Ledger.openReadOnly(path: path)
        let report = try ro.verify()
        #expect(report.isValid && report.events == 19)
        #expect(try bytes(path + "-shm").count == 3 && bytes(path + "-wal").isEmpty, "the reader grew the leftover -shm or -wal")
    }

    /// A schema marker (user_version) lowered by hand, below the migrations the file records:
    /// the file is refused as edited, by readers and writers alike. Taken at its word, verify
    /// checked the hashes under the wrong rules and called every event tampered with.
    @Test func aLoweredSchemaMarkerIsRefusedAsAnEdit() async throws {
        let original = try await makeLog(dir.path("log.sqlite"))
        let path = try copy(of: original, to: dir.path("marker"))
        let q = try rawQueue(path)
        try await q.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 3") }
        try q.close()
        for open in [{ _ = try Ledger.openReadOnly(path: path) }, { _ = try Ledger.open(path: path) }] as [() throws -> Void] {
            do {
                try open()
                Issue.record("a lowered user_version was opened")
            } catch let e as LedgerError {
                #expect("\(e)".contains("schema marker (user_version 3) is below the schema it records (v\(Schema.version))"), "\(e)")
            }
        }
    }

    @Test func everyWriteOnAReadOnlyLedgerFailsWithReadOnly() async throws {
        let original = try await makeLog(dir.path("log.sqlite"))
        let path = try copy(of: original, to: dir.path("ro"))
        let before = try bytes(path)
        let ro = try Ledger.openReadOnly(path: path)
        let refusals: [(String, () async throws -> Void)] = [
            ("append", { _ = try await ro.append(NewEvent(job: jid("new"), payload: queued)) }),
            ("append of a batch", { _ = try await ro.append(lifecycle(jid("new"))) }),
            ("import", { _ = try ro.importNDJSON([#"{"job_id":"new","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"k"}}"#]) }),
            ("stageAsset", { _ = try await ro.stageAsset(Data([1, 2, 3]), contentType: "image/png") }),
            ("projectionStep", { _ = try await ro.projectionStep(.jobs, limit: 10) { _, _ in } }),
            ("acquireProjection", { _ = try await ro.acquireProjection(.broadcast, owner: "me", now: Timestamp(milliseconds: 0), leaseMilliseconds: 10) }),
        ]
        for (name, write) in refusals {
            let error = await expectLedgerError(write)
            #expect(error == .readOnly(path: path), "\(name): \(String(describing: error))")
        }
        #expect(LedgerError.readOnly(path: path).description.contains("opened read-only"))
        #expect(try ro.eventCount() == 19)
        #expect(try listing(dir.path("ro")) == ["log.sqlite"])
        #expect(try bytes(path) == before)
    }

    @Test func anOlderSchemaIsReadAsItIsAndNeverMigrated() async throws {
        let source = try await makeLog(dir.path("source.sqlite"))
        // The same events as an older jobledger hashed them.
        let raws = try await legacyRows(in: dir) { old in
            for j in 0..<3 { _ = try await old.append(lifecycle(jid("job-\(j)"))) }
            _ = try await old.append(NewEvent(job: jid("job-3"), payload: queued))
        }
        let path = dir.path("old.sqlite")
        try await writeOldLog(path, upTo: "v2: a failed job may be requeued", rows: raws)
        let before = try bytes(path)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))

        let ro = try Ledger.openReadOnly(path: path)
        #expect(ro.schemaVersion == 2 && !ro.hasProjections)
        #expect(try ro.verify().isValid)
        #expect(try ro.currentJobRows() == rows(try ro.jobStates()), "without a jobs table every job is folded from the log")
        #expect(try ro.currentJobRows().count == (try source.jobStates().count))
        #expect(try ro.projectionStatus().allSatisfy { $0.checkpoint == 0 && $0.head == 19 })
        #expect(try listing(dir.path("")).filter { $0.hasPrefix("old.sqlite") } == ["old.sqlite"])
        #expect(try bytes(path) == before, "still schema v2, byte for byte")
    }

    @Test func aLiveWritersLogIsReadThroughItsWAL() async throws {
        let path = dir.path("live.sqlite")
        let writer = try Ledger.open(path: path)
        _ = try await writer.append(lifecycle(jid("a")))
        let files = try listing(dir.path("")).filter { $0.hasPrefix("live.sqlite") }
        #expect(files == ["live.sqlite", "live.sqlite-shm", "live.sqlite-wal"])

        let ro = try Ledger.openReadOnly(path: path)
        #expect(try ro.head() == writer.head(), "committed events still in the -wal are read")
        _ = try await writer.append(lifecycle(jid("b")))
        #expect(try ro.head() == writer.head(), "and so are those committed after it opened")
        #expect(try ro.verify().events == 12)
        #expect(try listing(dir.path("")).filter { $0.hasPrefix("live.sqlite") } == files)
        _ = try await writer.append(NewEvent(job: jid("c"), payload: queued))
        #expect(try writer.verify().isValid)
    }

    /// Through a symlink, the `-wal` lies beside the link's target (SQLite resolves the link):
    /// looked for beside the link, none was found, the bare file was read as immutable, and
    /// `verify` answered for the events up to the last checkpoint only.
    @Test func aLiveWritersLogIsReadThroughItsWALViaASymlink() async throws {
        let path = dir.path("real.sqlite"), link = dir.path("link.sqlite")
        let writer = try Ledger.open(path: path)
        _ = try await writer.append(lifecycle(jid("a")))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.sqlite")
        _ = try await writer.append(lifecycle(jid("b")))
        let ro = try Ledger.openReadOnly(path: link)
        #expect(try ro.head() == writer.head())
        #expect(try ro.verify().events == 12)
        let locked = try Ledger.openReadOnly(path: link, withLocks: true)
        #expect(try locked.head() == writer.head())
        // A writer opened through the link shares the target's -wal: both see every event.
        let second = try Ledger.open(path: link)
        _ = try await second.append(NewEvent(job: jid("c"), payload: queued))
        #expect(try writer.head() == second.head())
        #expect(try listing(dir.path("")).filter { $0.hasPrefix("link") } == ["link.sqlite"])
        // The ledgers keep the path they were given: files named after it (`<db>.blobs`) stay
        // beside the link, where they were.
        #expect(ro.path == link && second.path == link)
    }

    @Test func aCheckpointUnderAnUnlockedReaderMakesItsNextReadFail() async throws {
        let original = try await makeLog(dir.path("log.sqlite"))
        let path = try copy(of: original, to: dir.path("copy"))
        // Written long ago, as a copy kept for an audit would be.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_600_000_000)], ofItemAtPath: path)
        let ro = try Ledger.openReadOnly(path: path)
        #expect(try ro.eventCount() == 19)
        // A writer starts on the file (no -wal was there when the reader opened it) and
        // checkpoints into it.
        let writer = try Ledger.open(path: path)
        _ = try await writer.append(NewEvent(job: jid("late"), payload: queued))
        try await writer.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let error = await expectLedgerError { _ = try ro.eventCount() }
        guard case .writtenWhileReadWithoutLocks(path)? = error else { Issue.record("got \(String(describing: error))"); return }
        let message = error!.description
        #expect(message.contains("was written while it was read without locks") && message.contains("run the command again"), "\(message)")
        // Opened again, it reads the writer's log through its -wal.
        #expect(try Ledger.openReadOnly(path: path).eventCount() == 20)
    }

    @Test(arguments: [true, false])
    func aForeignDatabaseWithALeftoverWALIsRefusedAndNotCheckpointed(withSHM: Bool) async throws {
        // Another application's database as a crash leaves it: committed rows still in its -wal.
        let live = dir.path("live")
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: live + "/other.sqlite")
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL; CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('Ada')")
        }
        let crashed = dir.path("crashed")
        try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
        for suffix in withSHM ? ["", "-wal", "-shm"] : ["", "-wal"] {
            try FileManager.default.copyItem(atPath: live + "/other.sqlite" + suffix, toPath: crashed + "/other.sqlite" + suffix)
        }
        try queue.close()
        let path = crashed + "/other.sqlite"
        let main = try bytes(path), wal = try bytes(path + "-wal")
        #expect(wal.count > 0)

        let opens: [(String, () throws -> Void)] = [
            ("openReadOnly", { _ = try Ledger.openReadOnly(path: path) }),
            ("open", { _ = try Ledger.open(path: path, create: false) }),
            ("open with create", { _ = try Ledger.open(path: path, create: true) }),
        ]
        for (name, open) in opens {
            let error = await expectLedgerError(open)
            guard case .notALedger(path, let detail) = error else { Issue.record("\(name): got \(String(describing: error))"); continue }
            #expect(detail.contains("1 other object and no JobLedger marker"), "\(name): \(detail)")
        }
        #expect(try bytes(path) == main, "nothing was checkpointed into the other application's file")
        #expect(try bytes(path + "-wal") == wal)
        // SQLite needs a -shm to read a -wal; it creates one when the crash left none.
        #expect(try listing(crashed) == ["other.sqlite", "other.sqlite-shm", "other.sqlite-wal"])
    }
}
