import Foundation
import GRDB
import GRDBSQLite
import JobLedger
@testable import JobLedgerSQLite
import Testing

@Suite struct WALCheckpointPolicyTests {
    typealias Policy = WALCheckpointPolicy

    @Test func aBackgroundCheckpointEveryThousandFramesAndNeverTwoAtOnce() {
        var p = Policy()
        #expect(p.committed(walFrames: 3) == .none)
        #expect(p.committed(walFrames: Policy.every - 1) == .none)
        #expect(p.committed(walFrames: Policy.every) == .background)
        #expect(p.committed(walFrames: 2 * Policy.every) == .none, "one is still running")
        p.backgroundFinished()
        #expect(p.committed(walFrames: 2 * Policy.every + 5) == .background, "due since it ran")
        p.backgroundFinished()
        #expect(p.committed(walFrames: 2 * Policy.every + 10) == .none, "not another before a thousand more frames")
        #expect(p.committed(walFrames: 3 * Policy.every + 5) == .background)
    }

    @Test func fromWriterAtTheWriterCheckpointsItselfEvenWhileABackgroundOneRuns() {
        var p = Policy()
        #expect(p.committed(walFrames: Policy.writerAt - 10) == .background)
        #expect(p.committed(walFrames: Policy.writerAt + 500) == .none, "not a thousand frames since the last")
        // The background one is slow (a slow disk): the writer does not wait for it.
        #expect(p.committed(walFrames: Policy.writerAt + Policy.every) == .writer)
        p.backgroundFinished()
        #expect(!p.running)
        // Readers kept it from finishing: the WAL goes on growing, and the writer tries again a
        // thousand frames later, not at every commit.
        #expect(p.committed(walFrames: Policy.writerAt + Policy.every + 1) == .none)
        #expect(p.committed(walFrames: Policy.writerAt + 2 * Policy.every) == .writer)
    }

    /// Frames a checkpoint left uncopied (readers kept it from them, or they came after it)
    /// keep the WAL from starting again; an idle log never writes the thousand frames the next
    /// one waited for, so from `writerAt` on a commit that finds such frames starts one, at most
    /// once a second.
    @Test func framesLeftUncopiedAreCheckpointedAgainBeforeTheNextThousand() {
        var p = Policy()
        #expect(p.committed(walFrames: Policy.writerAt, now: 5_000) == .writer)
        p.writerFinished(copied: 100)  // readers held the rest
        #expect(p.copiedThrough == 100)
        #expect(p.committed(walFrames: Policy.writerAt + 2, now: 5_999) == .none, "not within a second")
        #expect(p.committed(walFrames: Policy.writerAt + 4, now: 6_000) == .background)
        #expect(p.committed(walFrames: Policy.writerAt + 6, now: 9_000) == .none, "one at a time")
        p.backgroundFinished(copied: nil)  // it failed: what was copied stays as it was
        #expect(p.copiedThrough == 100)
        #expect(p.committed(walFrames: Policy.writerAt + 8, now: 9_500) == .background)
        // Everything copied, but a commit came after it: its frames are uncopied too.
        p.backgroundFinished(copied: Policy.writerAt + 8)
        #expect(p.committed(walFrames: Policy.writerAt + 8 + 2, now: 10_499) == .none)
        #expect(p.committed(walFrames: Policy.writerAt + 8 + 4, now: 10_500) == .background)
        p.backgroundFinished(copied: Policy.writerAt + 8 + 4)
        // The next commit started the WAL again: nothing is left to copy.
        #expect(p.committed(walFrames: 3, now: 60_000) == .none && p.copiedThrough == 0)
        // Below `writerAt` a WAL is left to the thousand-frame rule.
        var q = Policy()
        #expect(q.committed(walFrames: Policy.every, now: 0) == .background)
        q.backgroundFinished(copied: 10)
        #expect(q.committed(walFrames: Policy.every + 2, now: 60_000) == .none)
    }

    @Test func aWALStartedAgainFromItsBeginningCountsFromZero() {
        var p = Policy()
        #expect(p.committed(walFrames: Policy.writerAt) == .writer)
        #expect(p.committed(walFrames: 4) == .none)
        #expect(p.startedAt == 0)
        #expect(p.committed(walFrames: Policy.every) == .background)
    }
}

@Suite struct WALCheckpointerTests {
    /// Single-event commits (two or more WAL frames each) well past the writer's threshold: the
    /// background checkpoints copy into the database file while the writer goes on, the writer's
    /// own lets the WAL start again, so the `-wal` file stays bounded, and the log is whole.
    @Test func checkpointsRunInTheBackgroundAndTheWALStaysBounded() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config())
        let checkpointer = try #require(ledger.checkpointer)
        let fileAtStart = Ledger.fileSize(path) ?? 0
        var appended = 0
        while checkpointer.checkpoints.background == 0 {
            _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: queued))
            appended += 1
            try #require(appended < 20_000, "no background checkpoint after \(appended) commits")
        }
        #expect(checkpointer.checkpoints.writer == 0)
        checkpointer.waitForBackground()
        #expect((Ledger.fileSize(path) ?? 0) > fileAtStart, "the background checkpoint copied frames into the database file")

        let frames = Int(WALCheckpointPolicy.writerAt + 2 * WALCheckpointPolicy.every)
        for _ in 0..<(2 * frames) {  // at least two frames a commit: past the bound twice over
            _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: queued))
        }
        checkpointer.waitForBackground()
        #expect(checkpointer.checkpoints.writer >= 1)
        let wal = Ledger.fileSize(path + "-wal") ?? 0
        #expect(wal <= frames * (4096 + 24), "the WAL started again from its beginning (\(wal) bytes)")
        #expect(try ledger.eventCount() == appended + 2 * frames)
        _ = try ledger.verify()
    }

    /// A reader on an old snapshot (a projection catching up keeps one or another open) kept
    /// every checkpoint from copying the WAL out while a burst was written, so it grew past
    /// 64 MiB. Once the reader lets go, a commit a second later checkpoints again, the next
    /// starts the WAL from its beginning, and its file is cut back to 64 MiB
    /// (`journal_size_limit`). Before, the file stayed at its largest until the process ended
    /// (792 MB after a catch-up in an outside probe) and the log's events sat in it uncopied.
    @Test func aWALGrownPastItsLimitWhileAReaderHeldItIsCutBackOnceTheReaderLetsGo() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config())
        let checkpointer = try #require(ledger.checkpointer)
        _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: queued))
        // Another process's reader, as a raw connection: a read transaction left open holds its snapshot.
        var reader: OpaquePointer?
        #expect(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
        defer { sqlite3_close_v2(reader) }
        #expect(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM events", nil, nil, nil) == SQLITE_OK)
        let limit = WALCheckpointPolicy.sizeLimitBytes
        let big: JSONValue = ["prompt": .string(String(repeating: "x", count: 3000))]
        while (Ledger.fileSize(path + "-wal") ?? 0) <= limit + (4 << 20) {
            _ = try await ledger.append((0..<50).map { _ in NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "k", input: big))) })
        }
        checkpointer.waitForBackground()
        #expect(checkpointer.checkpoints.writer >= 1)
        #expect(sqlite3_exec(reader, "COMMIT", nil, nil, nil) == SQLITE_OK)
        let before = checkpointer.checkpoints
        // Idle now: a lease renewal now and then, a second apart (the test moves the
        // checkpointer's clock instead of waiting). Without a checkpoint tried again, the WAL
        // could not start again before a thousand more frames; without the size limit, its
        // file would keep its size when it did.
        var renewals = 0
        while (Ledger.fileSize(path + "-wal") ?? 0) > limit {
            renewals += 1
            try #require(renewals <= 5, "the -wal file is still \(Ledger.fileSize(path + "-wal") ?? 0) bytes")
            checkpointer.advanceClock(milliseconds: 1_000)
            _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: queued))
            checkpointer.waitForBackground()
        }
        #expect(checkpointer.checkpoints.background > before.background)
        _ = try ledger.verify()
    }

    /// Released, the ledger's own connections are the last to close: the `-wal` is checkpointed
    /// and removed, as SQLite does it, and no background checkpoint is started after that.
    @Test func aReleasedLedgerLeavesNoWALBehind() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        var checkpointer: WALCheckpointer?
        do {
            let ledger = try Ledger.open(path: path, configuration: config())
            checkpointer = ledger.checkpointer
            while (checkpointer?.checkpoints.background ?? 0) < 2 {
                _ = try await ledger.append(NewEvent(job: JobID.generate(), payload: queued))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the ledger's connections closed last")
        let reopened = try Ledger.openReadOnly(path: path)
        _ = try reopened.verify()
        #expect(checkpointer?.checkpoints.background == 2)
    }
}
