import Foundation
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
