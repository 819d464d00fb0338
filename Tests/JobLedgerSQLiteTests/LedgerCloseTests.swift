import Foundation
import GRDB
import Synchronization
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// `Ledger.close()`: once it returns, the main file is the whole log and no `-wal` is left,
/// even while something (a task that outlives the command) still refers to the ledger.
@Suite(.timeLimit(.minutes(2)))
struct LedgerCloseTests {
    let dir = TempDir()

    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path("")).filter { $0.hasPrefix("log.sqlite") }.sorted() }

    @Test func closeCheckpointsIntoTheFileAndRemovesTheWALWhileTheLedgerIsStillHeld() async throws {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        for j in 0..<3 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        let head = try ledger.head()
        #expect(try files() == ["log.sqlite", "log.sqlite-shm", "log.sqlite-wal"])
        // Still referenced (as by a display task that has not ended yet): only close() closes.
        try ledger.close()
        #expect(try files() == ["log.sqlite"], "the last connection removed the -wal and -shm")
        // A copy of the main file alone is the whole log.
        try FileManager.default.copyItem(atPath: path, toPath: dir.path("copy.sqlite"))
        let copy = try Ledger.openReadOnly(path: dir.path("copy.sqlite"))
        #expect(try copy.head() == head)
        #expect(try copy.verify().isValid)
        // Closed: later calls fail, and closing again does nothing.
        #expect(await expectLedgerError { _ = try ledger.head() } != nil)
        try ledger.close()
        withExtendedLifetime(ledger) {}
    }

    /// Every call after `close()` throws `.closed` and writes nothing: an append crashed the
    /// process (SQLite's calls on the closed connection's nil handle), a read said "Connection
    /// is closed" as a storage error.
    @Test func callsAfterCloseThrowClosed() async throws {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(lifecycle(jid("a")))
        try ledger.close()
        func isClosed(_ e: LedgerError?) -> Bool { if case .closed(let p)? = e { p == path } else { false } }
        #expect(isClosed(await expectLedgerError { _ = try await ledger.append(lifecycle(jid("b"))[0]) }))
        #expect(isClosed(await expectLedgerError { _ = try await ledger.append(lifecycle(jid("c"))) }))
        #expect(isClosed(await expectLedgerError { _ = try ledger.head() }))
        #expect(isClosed(await expectLedgerError { _ = try await ledger.stageAsset(Data("x".utf8), contentType: "text/plain") }))
        #expect(LedgerError.closed(path: path).description.contains("closed"))
        #expect(try Ledger.openReadOnly(path: path).eventCount() == 6, "nothing was written after the close")
    }

    /// A call made while `close()` waits for a read under way is refused at once, and the read
    /// under way finishes. GRDB handed such a call a connection its close had just closed, and
    /// SQLite's calls on the nil handle crashed the process (a bad pointer inside libsqlite3,
    /// met by a CI run of `closingTheLedgerUnderAWorkingEngineEndsItsWork`).
    @Test func aCallMadeWhileTheCloseWaitsForAReadIsRefusedAndTheReadFinishes() async throws {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        _ = try await ledger.append(lifecycle(jid("a")))
        let inside = Mutex(false), release = DispatchSemaphore(value: 0)
        let read = Mutex<Result<Int, LedgerError>?>(nil), closed = Mutex<Result<Void, LedgerError>?>(nil)
        Thread.detachNewThread {
            let r = Result { () throws(LedgerError) -> Int in
                try ledger.read { db in
                    inside.withLock { $0 = true }
                    release.wait()
                    return try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? -1
                }
            }
            read.withLock { $0 = r }
        }
        try await Self.until { inside.withLock { $0 } }
        Thread.detachNewThread {
            let r = Result { () throws(LedgerError) in try ledger.close() }
            closed.withLock { $0 = r }
        }
        try await Self.until { ledger.use.isClosing }
        func isClosed(_ e: LedgerError?) -> Bool { if case .closed(let p)? = e { p == path } else { false } }
        // Refused before they reach a connection, while the read still holds its own.
        #expect(isClosed(await expectLedgerError { _ = try ledger.head() }))
        #expect(isClosed(await expectLedgerError { _ = try await ledger.page(from: 1, limit: 10) }))
        #expect(isClosed(await expectLedgerError { _ = try await ledger.append(lifecycle(jid("b"))[0]) }))
        #expect(ledger.use.callsUnderWay == 1)
        #expect(closed.withLock { $0 } == nil, "the close waits for the read under way")
        release.signal()
        try await Self.until { read.withLock { $0 } != nil && closed.withLock { $0 } != nil }
        #expect(try read.withLock { $0 }!.get() == 6, "the read under way finished")
        try closed.withLock { $0 }!.get()
        #expect(try files() == ["log.sqlite"])
        #expect(try Ledger.openReadOnly(path: path).eventCount() == 6)
    }

    /// Closes called from async code (as the commands and the tests call them) while async
    /// writes are under way, on two logs at once: with the writes counted, each close waited on
    /// a thread of the cooperative pool for a write whose task needed such a thread to resume,
    /// and two at once on two cores hung for good (found by a review).
    @Test func closesFromAsyncCodeWithWritesUnderWayReturn() async throws {
        for round in 0..<10 {
            let ledgers = try (0..<2).map { try Ledger.open(path: dir.path("log-\(round)-\($0).sqlite")) }
            let writers = ledgers.map { ledger in
                Task {
                    for i in 0..<200 { _ = try? await ledger.stageAsset(Data("asset \(i)".utf8), contentType: "text/plain") }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                for ledger in ledgers { group.addTask { try? ledger.close() } }
            }
            for w in writers { await w.value }
            for ledger in ledgers { #expect(ledger.isClosed) }
        }
    }

    /// Until `condition` holds, without sleeping; fails after a minute.
    static func until(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            await Task.yield()
        }
    }

    @Test func closeLeavesTheWALToAnotherConnectionThatStillHasTheLogOpen() async throws {
        let path = dir.path("log.sqlite")
        let first = try Ledger.open(path: path)
        _ = try await first.append(lifecycle(jid("a")))
        let second = try Ledger.open(path: path)
        try first.close()
        #expect(try files() == ["log.sqlite", "log.sqlite-shm", "log.sqlite-wal"], "the other connection's -wal stays")
        _ = try await second.append(lifecycle(jid("b")))
        try second.close()
        #expect(try files() == ["log.sqlite"])
        #expect(try Ledger.openReadOnly(path: path).eventCount() == 12)
    }
}
