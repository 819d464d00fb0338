import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// Storage faults are told apart from refusals (and from a busy lock), name the file, the free
/// space and what to do; the backoff that waits them out tries less and less often and says so
/// once.
@Suite struct StorageFaultTests {
    @Test func aLogOutOfRoomFailsWithAFullDiskFaultAndWritesAgainOnceThereIsRoom() async throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        #expect(try await ledger.setMaxPageCount(1) == (try await ledger.pageCount()))  // capped at its size: full
        let error = await expectLedgerError {
            // Enough bytes to need a page whatever room the last one has left.
            _ = try await ledger.stageAsset(Data(repeating: 1, count: 8192), contentType: "image/png")
        }
        let fault = try #require(error?.storageFault, "got \(String(describing: error))")
        #expect(fault.kind == .full)
        #expect(fault.path == path)
        #expect(fault.freeBytes != nil)
        #expect(error!.description.contains(path) && error!.description.contains("free on its file system"))
        #expect(fault.remedy.contains("free space"))
        // Nothing was half-written, and the same write succeeds once there is room.
        try await ledger.setMaxPageCount(nil)
        _ = try await ledger.stageAsset(Data(repeating: 1, count: 8192), contentType: "image/png")
        #expect(try ledger.verify().problem == nil)
    }

    @Test func theCLIsCapAppliesToEveryConnection() async throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        let pages = try await Ledger.open(path: path).pageCount()
        var c = LedgerConfiguration()
        c.maxPageCount = pages + 4  // opening writes a little (GRDB's pool setup)
        let capped = try Ledger.open(path: path, configuration: c)
        let error = await expectLedgerError { _ = try await capped.stageAsset(Data(repeating: 2, count: 65536), contentType: "image/png") }
        #expect(error?.storageFault?.kind == .full, "got \(String(describing: error))")
    }

    @Test func aLogMovedAwayWhileOpenIsAVanishedFile() async throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        try ledger.checkFileIsThere()
        // Moved away: SQLite (WAL) would go on writing into it; the check says it is gone.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
        let error = await expectLedgerError { try ledger.checkFileIsThere() }
        #expect(error?.storageFault?.kind == .vanished, "got \(String(describing: error))")
        #expect(error?.description.contains("moved or deleted") == true)
        // Put back, it is the same file again.
        try FileManager.default.moveItem(atPath: path + ".moved", toPath: path)
        try ledger.checkFileIsThere()
        // SQLite's own report of a moved file (rollback-journal mode) is the same fault.
        #expect(Ledger.map(DatabaseError(resultCode: .SQLITE_READONLY_DBMOVED), path: path, configuration: .init()).storageFault?.kind == .vanished)
    }

    @Test func anAppendToALogMovedAwayWhileOpenIsRefusedAndWritesNothing() async throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
        // In WAL mode SQLite would commit into the moved file and the caller would be told its
        // event was recorded: the append transaction itself refuses, whoever appends.
        let single = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("b"), payload: queued)) }
        #expect(single?.storageFault?.kind == .vanished, "got \(String(describing: single))")
        let batch = await expectLedgerError {
            _ = try await ledger.append([NewEvent(job: jid("c"), payload: queued), NewEvent(job: jid("d"), payload: queued)])
        }
        #expect(batch?.storageFault?.kind == .vanished, "got \(String(describing: batch))")
        let each = await ledger.appendEach([NewEvent(job: jid("e"), payload: queued)])
        guard case .failure(let e) = each[0] else { Issue.record("appendEach wrote into a moved log"); return }
        #expect(e.storageFault?.kind == .vanished)
        // Put back: nothing of the refused appends is in it, and appends work again.
        try FileManager.default.moveItem(atPath: path + ".moved", toPath: path)
        #expect(try ledger.head()?.seq == 1)
        _ = try await ledger.append(NewEvent(job: jid("f"), payload: queued))
        #expect(try ledger.head()?.seq == 2)
    }

    @Test func faultsAreClassifiedByTheirSQLiteCode() throws {
        let dir = TempDir()
        let path = dir.path("jobs.sqlite")
        _ = try Ledger.open(path: path)
        func kind(_ code: ResultCode) -> StorageFault.Kind? {
            StorageFault.classify(DatabaseError(resultCode: code, message: "m"), path: path)?.kind
        }
        #expect(kind(.SQLITE_FULL) == .full)
        #expect(kind(.SQLITE_IOERR) == .io)
        #expect(kind(.SQLITE_IOERR_WRITE) == .io)
        // An I/O error with no room left is the disk being full (SQLite reports a -wal or -shm
        // that found no room as an I/O error); with room, it stays an I/O error.
        let noRoom = StorageFault.classify(DatabaseError(resultCode: .SQLITE_IOERR_SHMSIZE, message: "m"), path: path, free: { _ in 0 })
        #expect(noRoom?.kind == .full && noRoom?.freeBytes == 0)
        #expect(StorageFault.classify(DatabaseError(resultCode: .SQLITE_IOERR_WRITE, message: "m"), path: path, free: { _ in 1 << 30 })?.kind == .io)
        // A read error stays one, even where the file system reports no room (a read-only medium).
        #expect(StorageFault.classify(DatabaseError(resultCode: .SQLITE_IOERR_READ, message: "m"), path: path, free: { _ in 0 })?.kind == .io)
        #expect(kind(.SQLITE_READONLY) == .readOnly)
        #expect(kind(.SQLITE_READONLY_DBMOVED) == .vanished)
        #expect(kind(.SQLITE_BUSY) == nil)  // a lock: `.busy`, not a fault of the storage
        #expect(kind(.SQLITE_CORRUPT) == nil)  // does not clear by waiting
        #expect(kind(.SQLITE_CONSTRAINT) == nil)
        // A read-only log (opened so) stays `.readOnly`; a log opened for writing whose file
        // turned read-only is a fault.
        #expect(Ledger.map(DatabaseError(resultCode: .SQLITE_READONLY), path: path, configuration: .init(), isReadOnly: true) == .readOnly(path: path))
        #expect(Ledger.map(DatabaseError(resultCode: .SQLITE_READONLY), path: path, configuration: .init()).storageFault?.kind == .readOnly)
        #expect(StorageFault.text(bytes: 0) == "0 bytes")
        #expect(StorageFault.text(bytes: 1536) == "1.5 KB")
        #expect(StorageFault.text(bytes: 68 << 30) == "68 GB")
    }

    /// 10 s of a full disk, looked at every 100 ms: the tries come 250 ms, 500 ms, 1 s, 2 s, 4 s
    /// apart (the count grows with the backoff, not with time), one line says it started, a
    /// reminder comes after a minute, one line says it cleared.
    @Test func theBackoffTriesLessAndLessOftenAndSaysSoOncePerMinute() {
        let fault = StorageFault(kind: .full, path: "/x/jobs.sqlite", detail: "database or disk is full", freeBytes: 0)
        var b = StorageBackoff(policy: StorageFaultPolicy())
        var now = Timestamp(milliseconds: 1_000_000)
        var tries: [Int64] = []
        var notes: [StorageBackoff.Note] = []
        func poll(for ms: Int64, every step: Int64 = 100) {
            for _ in 0..<(ms / step) {
                if b.mayTry(at: now) {
                    tries.append(now.milliseconds - 1_000_000)
                    if let n = b.failed(fault, during: "claiming jobs", at: now) { notes.append(n) }
                }
                now = now.adding(milliseconds: step)
            }
        }
        poll(for: 10_000)
        #expect(tries == [0, 300, 800, 1800, 3800, 7800])  // 250 ms, then 500 ms, 1 s, 2 s, 4 s after each try
        #expect(notes == [.started(fault, during: "claiming jobs")])
        // Several writers failing at once count as one try of the schedule.
        let next = b.nextTry
        _ = b.failed(fault, during: "recording", at: now)
        #expect(b.nextTry == next)
        poll(for: 60_000)
        #expect(b.tries <= 12)  // at most one a 30 s after the first minute
        #expect(notes.count == 2)
        guard case .lasting(_, let ms, _, _) = notes[1] else { Issue.record("no reminder: \(notes)"); return }
        #expect(ms >= 60_000)
        #expect(notes[1].message(paused: "claims", policy: b.policy).contains("still there after 1 min"))
        #expect(notes[0].message(paused: "claims", policy: b.policy).contains("Pausing claims: next try in 250 ms, then one every 30 s at most; it resumes by itself when the fault clears (stop the process to give up)"))
        // Space freed: work resumes at once, and the episode ends once writes have gone on for 2 s.
        #expect(b.succeeded(at: now) == nil)
        #expect(!b.isPaused && b.mayTry(at: now))
        #expect(b.settle(at: now.adding(milliseconds: 1999)) == nil)
        let cleared = b.settle(at: now.adding(milliseconds: 2000))
        guard case .cleared(_, let lasted, let n)? = cleared else { Issue.record("not cleared: \(String(describing: cleared))"); return }
        #expect(lasted == now.milliseconds - 1_000_000 && n == 10)
        #expect(b.fault == nil)
    }

    /// A nearly full disk lets small writes through and fails big ones: the episode goes on
    /// (no new start line, the backoff kept) until writes have succeeded for a while.
    @Test func aFaultThatReturnsBeforeItSettledContinuesTheEpisode() {
        let fault = StorageFault(kind: .full, path: "/x/jobs.sqlite", detail: "database or disk is full", freeBytes: 0)
        var b = StorageBackoff(policy: StorageFaultPolicy())
        let t0 = Timestamp(milliseconds: 0)
        #expect(b.failed(fault, during: "claiming", at: t0) != nil)
        #expect(b.succeeded(at: t0.adding(milliseconds: 300)) == nil)
        #expect(!b.isPaused)
        #expect(b.failed(fault, during: "recording", at: t0.adding(milliseconds: 400)) == nil)  // no second start line
        #expect(b.isPaused && b.nextTry == t0.adding(milliseconds: 900))  // the backoff doubled: 500 ms
        #expect(b.tries == 2)
    }

    /// A policy's own `settle` replaces the derived window (eight first retries, here 80 ms):
    /// a fault 1 s after a success still continues the episode, and it ends 2 s after it.
    @Test func aPolicysSettleWindowIsTheOneKept() {
        let fault = StorageFault(kind: .full, path: "/x/jobs.sqlite", detail: "database or disk is full", freeBytes: 0)
        var b = StorageBackoff(policy: StorageFaultPolicy(firstRetry: .milliseconds(10), maxRetry: .milliseconds(100), settle: .seconds(2)))
        #expect(b.settleMilliseconds == 2000)
        let t0 = Timestamp(milliseconds: 0)
        #expect(b.failed(fault, during: "claiming", at: t0) != nil)
        #expect(b.succeeded(at: t0.adding(milliseconds: 20)) == nil)
        #expect(b.failed(fault, during: "recording", at: t0.adding(milliseconds: 1020)) == nil)  // the same episode
        #expect(b.succeeded(at: t0.adding(milliseconds: 1100)) == nil)
        #expect(b.settle(at: t0.adding(milliseconds: 3099)) == nil)
        #expect(b.settle(at: t0.adding(milliseconds: 3100)) == .cleared(fault, milliseconds: 1100, tries: 2))
        // Without it, the window is the derived one.
        #expect(StorageBackoff(policy: StorageFaultPolicy(firstRetry: .milliseconds(10), maxRetry: .milliseconds(100))).settleMilliseconds == 80)
    }

    @Test func givingUpCountsFromTheStartOfThePause() {
        let fault = StorageFault(kind: .io, path: "/x/jobs.sqlite", detail: "disk I/O error", freeBytes: nil)
        var b = StorageBackoff(policy: StorageFaultPolicy(giveUpAfter: .seconds(5)))
        let t0 = Timestamp(milliseconds: 0)
        _ = b.failed(fault, during: "claiming", at: t0)
        #expect(!b.outlasted(at: t0.adding(milliseconds: 4999)))
        #expect(b.outlasted(at: t0.adding(milliseconds: 5000)))
        _ = b.succeeded(at: t0.adding(milliseconds: 5000))
        #expect(!b.outlasted(at: t0.adding(milliseconds: 6000)))  // writes go on: not paused
    }
}
